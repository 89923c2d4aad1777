"""django-rq's dashboard under the admin: only superusers act on the queues, on
its one mount, and a job, queue or worker Redis does not hold (a normal state
after a cleanup or a purge) is a 404, never a server error."""

import re
import uuid

import django_rq
import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns
from rq.job import Job

from config import rq_dashboard
from ingest import services
from ingest.services import cleanup
from jobs.models import JobStatus
from jobs.worker import Worker
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
    cleanup.remove_rq_entries(job_id=str(job.pk))  # what a cleanup does

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
    assert cleanup.remove_rq_entries(job_id=str(job.pk)) == 0


# --- every django-rq URL, for an auditor --------------------------------------------

ADMIN_MOUNT = "/admin/django_rq/dashboard/"


@pytest.fixture
def auditor_client():
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="auditors"))
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def queued(redis_conn):
    """A job in the queue, and a worker registered on it, for the URLs to name."""
    job = IngestJobFactory(status=JobStatus.QUEUED)
    services.job_enqueue(job=job)
    worker = Worker(["ingest"], connection=django_rq.get_connection("ingest"))
    worker.register_birth()
    yield str(job.pk), worker.key
    worker.register_death()


def dashboard_urls(job_id: str, worker_key: str) -> list[str]:
    """Every URL of django-rq's dashboard, with its arguments filled in."""
    values = {
        "queue_index": 0,
        "scheduler_index": 0,
        "connection_index": 0,
        "job_id": job_id,
        "result_id": "0-0",
        "key": worker_key,
        "scheduler_name": "default",
        "cron_job_name": "nightly",
        "token": "x",
    }
    urls = []
    for pattern in get_api_urlpatterns() + get_admin_urlpatterns():
        if pattern.name in rq_dashboard.UNUSED:
            continue
        names = pattern.pattern.converters.keys() or re.compile(str(pattern.pattern)).groupindex
        urls.append(reverse(f"django_rq:{pattern.name}", kwargs={n: values[n] for n in names}))
    return urls


def test_an_auditor_changes_nothing_through_any_dashboard_url(auditor_client, queued):
    job_id, worker_key = queued
    queue = django_rq.get_queue("ingest")
    urls = dashboard_urls(job_id, worker_key)
    assert len(urls) > 20

    for url in urls:
        posted = auditor_client.post(url, {"post": "yes", "job_ids": [job_id], "action": "delete"})
        read = auditor_client.get(url)
        assert posted.status_code in (401, 403), (url, posted.status_code)
        assert read.status_code < 500, (url, read.status_code)

    assert queue.job_ids == [job_id]
    assert Job.fetch(job_id, connection=queue.connection).get_status() == "queued"


def test_the_admin_entry_serves_no_second_copy_of_the_dashboard(auditor_client, queued):
    job_id, worker_key = queued
    queue = django_rq.get_queue("ingest")

    entry = auditor_client.get(ADMIN_MOUNT)
    assert (entry.status_code, entry["Location"]) == (302, reverse("django_rq:home"))
    for url in dashboard_urls(job_id, worker_key):
        copy = ADMIN_MOUNT + url.removeprefix("/admin/django-rq/")
        if copy == ADMIN_MOUNT:
            continue
        assert auditor_client.post(copy, {"post": "yes"}).status_code == 404, copy
        assert auditor_client.get(copy).status_code == 404, copy
    assert queue.job_ids == [job_id]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/django-rq/queues/99/",
        "/admin/django-rq/queues/99/details/",
        "/admin/django-rq/queues/99/started/",
        "/admin/django-rq/workers/99/",
        "/admin/django-rq/workers/0/rq:worker:gone/",
    ],
)
def test_an_unknown_queue_or_worker_is_a_404(superuser_client, url):
    assert superuser_client.get(url).status_code == 404


def test_a_malformed_worker_key_is_a_404(superuser_client):
    for key in ("abc", "rq:job:x", "%20"):
        response = superuser_client.get(f"/admin/django-rq/workers/0/{key}/")
        assert response.status_code == 404, (key, response.status_code)


@pytest.mark.parametrize("staff", [False, True], ids=["anonymous", "not-staff"])
def test_a_caller_without_a_staff_login_is_sent_to_the_login_first(queued, staff):
    """Before any lookup: a worker that runs, one that does not and a key
    that cannot be one all answer alike, so nothing tells which workers exist."""
    _, worker_key = queued
    client = Client(raise_request_exception=False)
    if staff:
        client.force_login(UserFactory(is_staff=False))
    login = reverse("admin:login")

    for url in (
        "/admin/django-rq/workers/0/abc/",
        f"/admin/django-rq/workers/0/{worker_key}/",
        "/admin/django-rq/workers/0/rq:worker:gone/",
        "/admin/django-rq/queues/99/",
        "/admin/django-rq/",
    ):
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, (url, response.status_code)
            assert response["Location"].startswith(f"{login}?next="), url
