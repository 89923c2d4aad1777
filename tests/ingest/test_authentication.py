"""API tokens: on a project's URLs the token and the caller's membership are
read in one query (``ingest.api.authentication``); what a caller may do is
unchanged, and so is every refusal."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ingest.models import Role
from tests.factories import IngestJobFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def token_of(user) -> str:
    return Token.objects.create(user=user).key


def jobs_url(project, job=None) -> str:
    return f"/api/projects/{project.pk}/ingest/jobs/" + (f"{job.pk}/" if job else "")


@pytest.fixture
def job():
    return IngestJobFactory()


def test_a_member_reads_with_one_query_for_the_token_and_the_role(job, django_assert_num_queries):
    user = MembershipFactory(project=job.project).user
    client = with_token(token_of(user))
    with django_assert_num_queries(3) as queries:  # membership with token, count, page
        response = client.get(jobs_url(job.project))
    assert response.status_code == 200
    assert response.json()["results"][0]["id"] == str(job.pk)
    assert "authtoken_token" in queries.captured_queries[0]["sql"]
    assert "ingest_membership" in queries.captured_queries[0]["sql"]


def refused(response) -> bool:
    # 403 rather than 401: session authentication comes first (DRF's rule).
    return response.status_code in (401, 403) and response.json()["code"] == "authentication_failed"


def test_a_valid_token_of_a_non_member_is_404_not_refused(job):
    outsider = token_of(MembershipFactory().user)  # a member elsewhere
    assert with_token(outsider).get(jobs_url(job.project, job)).status_code == 404
    assert with_token(outsider).get("/api/projects/").status_code == 200


def test_a_wrong_token_is_refused_on_a_project_url(job):
    MembershipFactory(project=job.project)
    assert refused(with_token("0" * 40).get(jobs_url(job.project, job)))


def test_an_inactive_member_is_refused(job):
    user = MembershipFactory(project=job.project).user
    key = token_of(user)
    user.is_active = False
    user.save()
    assert refused(with_token(key).get(jobs_url(job.project, job)))


def test_the_role_read_with_the_token_still_decides_writes(job):
    viewer = MembershipFactory(project=job.project, role=Role.VIEWER).user
    client = with_token(token_of(viewer))
    assert client.get(jobs_url(job.project, job)).status_code == 200
    response = client.post(f"{jobs_url(job.project, job)}cancel/", {}, format="json")
    assert response.status_code == 403


def test_a_malformed_project_id_with_a_good_token_is_404():
    client = with_token(token_of(UserFactory()))
    assert client.get("/api/projects/not-a-uuid/ingest/jobs/").status_code == 404


def test_a_member_removed_is_refused_at_once(job):
    membership = MembershipFactory(project=job.project)
    client = with_token(token_of(membership.user))
    assert client.get(jobs_url(job.project)).status_code == 200
    membership.delete()
    assert client.get(jobs_url(job.project)).status_code == 404
    # A project of its own is unaffected: the token still authenticates.
    ProjectFactory()
    assert client.get("/api/projects/").status_code == 200
