"""Swagger UI at /api/docs/ in a real browser with no way out to the
internet: its script and styles come from the app itself
(drf-spectacular-sidecar), so the docs the banner advertises work offline."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e]


@pytest.mark.parametrize("width", [1280, 390])
def test_api_docs_render_offline_from_the_apps_own_assets(browser, site, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    elsewhere = []

    def only_the_site(route):
        if route.request.url.startswith(site):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_site)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{site}/api/docs/")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Ingest jobs API")
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
        expect(page.get_by_text("/api/projects/{project_id}/ingest/jobs/").first).to_be_visible()
    finally:
        context.close()
    assert elsewhere == []
    assert errors == []
