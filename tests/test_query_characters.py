"""A NUL in a request's address (which PostgreSQL's text cannot hold) is a
400 with a sentence on every page, JSON in the API's shape under /api/ and
/mcp/, never a 500."""

import asyncio
import json

import pytest
from django.test import Client

from ingest.agents.http import mcp_app
from tests.asgi import http_scope
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SENTENCE = "The address holds a NUL character (%00), which no parameter here takes; remove it."


@pytest.fixture
def page_client(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def admin_client():
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "query", ["name=%00", "status=%00", "q=a%00b", "%00=1", "name=%00&status=running"]
)
def test_an_admin_list_filter_with_a_nul_is_a_400(admin_client, query):
    response = admin_client.get(f"/admin/ingest/ingestjob/?{query}")

    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == SENTENCE


def test_an_admin_action_posted_with_a_nul_in_the_query_is_a_400(admin_client):
    response = admin_client.post("/admin/ingest/ingestjob/?status=%00", {"action": "x"})
    assert response.status_code == 400


def test_a_dashboard_page_with_a_nul_is_a_400(page_client, project):
    for url in (
        f"/projects/{project.pk}/jobs/new/outcome/?key=%00",
        f"/projects/{project.pk}/?q=%00",
        f"/projects/{project.pk}/%00/",
    ):
        response = page_client.get(url)
        assert response.status_code == 400, url
        assert response.content.decode() == SENTENCE


def test_an_api_parameter_with_a_nul_is_a_400_in_the_apis_shape(page_client, project):
    for url in (
        f"/api/projects/{project.pk}/ingest/jobs/?status=%00",
        f"/api/projects/{project.pk}/documents/?q=%00",
        "/api/schema/?format=%00",
    ):
        response = page_client.get(url)
        assert response.status_code == 400, url
        assert response.json() == {"detail": SENTENCE[0].lower() + SENTENCE[1:], "code": "invalid"}


def test_the_same_pages_answer_without_the_nul(admin_client, page_client, project):
    assert admin_client.get("/admin/ingest/ingestjob/?name=caf%C3%A9").status_code == 200
    assert page_client.get(f"/projects/{project.pk}/jobs/new/outcome/?key=k1").status_code < 400
    assert page_client.get(f"/api/projects/{project.pk}/ingest/jobs/?q=a+b").status_code == 200


def test_mcp_refuses_a_nul_in_its_address_in_the_apis_shape():
    scope = http_scope(query=b"session=%00")
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(mcp_app()(scope, receive, send))

    assert sent[0]["status"] == 400
    detail = SENTENCE[0].lower() + SENTENCE[1:]
    assert json.loads(sent[1]["body"]) == {"detail": detail, "code": "invalid"}
