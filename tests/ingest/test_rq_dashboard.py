"""django-rq's dashboard under the admin: a job Redis no longer holds (a normal
state after a cleanup or a purge) is a 404, never a server error."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from ingest import services
from jobs.models import JobStatus
from tests.factories import IngestJobFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client():
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("view", ["delete_job", "requeue_job", "enqueue_job", "job_detail"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_job_redis_no_longer_holds_is_a_404(superuser_client, redis_conn, view, method):
    job = IngestJobFactory(status=JobStatus.COMPLETED)
    services.job_enqueue(job=job)
    services.remove_rq_entries(job_id=str(job.pk))  # what a cleanup does

    for job_id in (str(job.pk), str(uuid.uuid4())):
        url = reverse(f"django_rq:{view}", args=[0, job_id])
        response = getattr(superuser_client, method)(url, {"post": "yes"})
        assert response.status_code == 404, (url, response.status_code)


def test_a_job_redis_holds_is_still_deleted_by_a_superuser(superuser_client, redis_conn):
    job = IngestJobFactory(status=JobStatus.QUEUED)
    services.job_enqueue(job=job)
    url = reverse("django_rq:delete_job", args=[0, str(job.pk)])

    assert superuser_client.get(url).status_code == 200
    assert superuser_client.post(url, {"post": "yes"}).status_code == 302
    assert services.remove_rq_entries(job_id=str(job.pk)) == 0
