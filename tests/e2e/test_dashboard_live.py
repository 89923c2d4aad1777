"""What the pages say while real workers run real jobs: the file being read,
its bytes moving without a reload, the files waiting behind it; failed files
in a warning colour; and Retry offered exactly while the server takes it."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from ingest import actions
from ingest.models import IngestJob
from tests.e2e.helpers import create_job, prose
from tests.e2e.pages import check_page, login

pytestmark = [pytest.mark.e2e]

SLOW = 90_000  # ms: a loaded machine may take a while
SCAN = Path(__file__).resolve().parent.parent / "corpus" / "pdf" / "grayscale-image.pdf"


@pytest.fixture
def site(start_web):
    return start_web(DEBUG="1", DJANGO_ALLOW_ASYNC_UNSAFE="").url


def records(count: int) -> bytes:
    """JSON lines, read as a stream: long enough to be seen being read."""
    lines = (
        json.dumps({"id": n, "title": f"record {n}", "text": prose(n, 120).decode()})
        for n in range(count)
    )
    return ("\n".join(lines) + "\n").encode()


def test_the_file_being_read_moves_live_and_the_next_ones_wait(
    sized_page, screen, site, user, project, start_worker, api
):
    page = sized_page
    big = records(120_000 if screen == "desktop" else 80_000)
    job_id = create_job(
        api,
        project,
        [
            SimpleUploadedFile("records.jsonl", big, content_type="application/json"),
            SimpleUploadedFile("one.txt", prose(1, 4_000), content_type="text/plain"),
            SimpleUploadedFile("two.txt", prose(2, 4_000), content_type="text/plain"),
        ],
        chunk_size=2000,
    )
    login(page, site, user)
    page.goto(f"{site}/projects/{project.pk}/jobs/{job_id}/")
    states = page.locator("[data-file-state]")
    expect(states).to_have_text(["Waiting", "Waiting", "Waiting"])  # queued: none reached yet
    expect(page.locator("[data-live-text]")).to_have_text("Live")
    page.evaluate("window.sameDocument = true")
    check_page(page, "a queued job's page")

    start_worker()
    seen_reading, seen_states = set(), set()
    badge = page.locator("#job-panel [data-status-badge]")
    while badge.inner_text() != "Completed":
        now = tuple(states.all_inner_texts())
        seen_states.add(now)
        text = page.locator("[data-reading-text]")
        if now[0] == "Reading" and text.count():
            seen_reading.add(text.inner_text())
        page.wait_for_timeout(40)
        assert len(seen_states) < 10_000, "the job never completed"

    expect(states).to_have_text(["Done", "Done", "Done"])
    assert ("Reading", "Waiting", "Waiting") in seen_states
    assert not any("Not reached" in s for s in seen_states)  # only once a job has ended
    partial = [t for t in seen_reading if t.split(" of ")[0] != t.split(" of ")[1]]
    assert len(seen_reading) >= 2 and partial, seen_reading  # it moved, short of the end
    assert page.evaluate("window.sameDocument") is True  # live: no reload
    assert IngestJob.objects.get(pk=job_id).items_failed == 0


def test_failed_files_show_and_retry_is_offered_only_while_it_would_be_taken(
    page, site, user, project, start_worker, api
):
    job_id = create_job(
        api,
        project,
        [
            SimpleUploadedFile("notes.txt", prose(3, 20_000), content_type="text/plain"),
            SimpleUploadedFile("scan.pdf", SCAN.read_bytes(), content_type="application/pdf"),
        ],
        name="Mixed batch",
    )
    start_worker()
    login(page, site, user)
    page.goto(f"{site}/projects/{project.pk}/")
    row = page.locator(f"#job-{job_id}")
    badge = row.locator("[data-status-badge]")
    expect(badge).to_have_text("Completed", timeout=SLOW)
    expect(badge).to_have_class("badge badge-completed badge-with-failures")
    expect(row.locator("[data-progress-files]")).to_have_text("1 of 2 files, 1 failed")
    check_page(page, "a job completed with a failed file")

    # Retry from the list, as from the job's page: the same rule offers it.
    refused = []
    page.on("response", lambda r: refused.append(r.url) if r.status == 409 else None)
    row.get_by_role("button", name="Retry Mixed batch").click()
    page.locator("#retry-dialog").get_by_role("button", name="Retry job").click()
    retry_row = page.locator("tr.job-row", has_text="Retry of Mixed batch")
    expect(retry_row).to_have_count(1)
    expect(row.get_by_role("button", name="Retry Mixed batch")).to_have_count(0)  # retried

    # The retry fails its scan again; its uploads removed, it cannot be retried.
    expect(retry_row.locator("[data-status-badge]")).to_have_text("Failed", timeout=SLOW)
    retry_row.get_by_role("link", name="Retry of Mixed batch").click()
    panel = page.locator("#job-panel")
    expect(panel.get_by_role("button", name="Retry Retry of Mixed batch")).to_be_visible()
    expect(panel.locator("[data-file-state]")).to_have_text(["Failed"])
    panel.get_by_role("button", name="Remove stored files…").click()
    page.locator("#cleanup-dialog").get_by_role("button", name="Remove files").click()
    page.locator("#cleanup-dialog").get_by_role("button", name="Close").click()
    expect(panel.get_by_role("button", name="Retry Retry of Mixed batch")).to_have_count(0)
    retried = IngestJob.objects.get(name="Retry of Mixed batch")
    assert "retry" not in actions.job_actions(retried)
    assert refused == []  # nothing offered was refused
