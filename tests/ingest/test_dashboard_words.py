"""What the dashboard's pages say, through Django's test client: times and
sizes written for people, long names shortened, the audit trail's links to
other jobs, and what became of an upload the page was left during."""

import re
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from ingest import services
from ingest.models import IdempotencyKey, Role
from ingest.services.intake import shorten
from jobs import lifecycle
from jobs.models import JobStatus
from tests.conftest import member
from tests.factories import IngestFileFactory, IngestJobFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def job_page(project, job) -> str:
    return reverse("ingest:job-detail", kwargs={"project_id": project.pk, "job_id": job.pk})


def test_the_delete_notice_gives_the_purge_time_without_a_double_period(user, project, settings):
    settings.INGEST_PURGE_AFTER_DAYS = 30
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED, name="Old batch")
    url = reverse("ingest:job-delete", kwargs={"project_id": project.pk, "job_id": job.pk})
    notice = browser(user).post(url, **HTMX).content.decode()
    purge = re.search(r"purged for good on ([^<]*)</p>", notice)[1]
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d\d:\d\d UTC\.", purge), purge
    assert ".." not in notice


def test_a_retry_is_linked_both_ways_in_the_audit_trail_with_no_stray_space(user, project):
    failed = IngestJobFactory(project=project, status=JobStatus.FAILED, name="Batch")
    IngestFileFactory(job=failed, status="failed")
    retry = services.job_retry(job=failed, actor=user)
    client = browser(user)

    page = client.get(job_page(project, failed)).content.decode()
    link = f'href="{job_page(project, retry)}" data-audit-link>Retry of Batch</a>'
    assert "Retried as <a " in page and link in page
    assert f"retried as job {retry.pk}" not in page
    assert re.search(r"\(queued, <time [^>]*>[^<]*</time>\)", page)  # "(queued, Dec 7, 01:50:22)"

    page = client.get(job_page(project, retry)).content.decode()
    assert f'href="{job_page(project, failed)}" data-audit-link>Batch</a>' in page


def test_a_long_file_name_becomes_a_job_name_cut_at_a_word_with_an_ellipsis():
    long = "quarterly report " * 14 + "final version.txt"  # 255 characters
    name = shorten(long[:249], 200)
    assert len(name) <= 200 and name.endswith("…")
    assert long.startswith(name[:-1]) and long[len(name) - 1] == " "  # cut at a word's end
    assert shorten("short.txt", 200) == "short.txt"
    assert shorten("x" * 250, 200) == "x" * 199 + "…"  # no word to cut at


def test_a_long_name_keeps_its_whole_text_in_a_tooltip(user, project):
    name = "a-rather-long-name " * 10
    job = IngestJobFactory(project=project, name=name.strip(), status=JobStatus.COMPLETED)
    IngestFileFactory(job=job, name="f" * 240 + ".txt")
    page = browser(user).get(job_page(project, job)).content.decode()
    assert f'<h1 class="clip" title="{job.name}">' in page
    assert f'<span class="clip" title="{"f" * 240}.txt">' in page


def test_an_upload_left_mid_way_is_reported_once_the_page_is_back(user, project):
    client = browser(user)
    url = reverse("ingest:job-upload-outcome", kwargs={"project_id": project.pk})
    job = IngestJobFactory(project=project, name="Left behind", items_total=2)
    IdempotencyKey.objects.create(user=user, key="k-1", job=job)

    found = client.get(url, {"key": "k-1"})
    assert found.status_code == 200 and found["X-Ingest-Job"] == str(job.pk)
    assert "job “Left behind” was created with 2 files; it is queued." in found.content.decode()

    assert client.get(url, {"key": "k-2"}).status_code == 202  # maybe still being checked
    final = client.get(url, {"key": "k-2", "final": "1"})
    assert "did not arrive" in final.content.decode() and "notice-error" in final.content.decode()

    # Another user's key, or another project's job, is not this upload.
    other = member(project, Role.MEMBER)
    assert browser(other).get(url, {"key": "k-1"}).status_code == 202
    finished = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    IdempotencyKey.objects.create(user=user, key="k-3", job=finished)
    lifecycle.soft_delete(finished)
    assert client.get(url, {"key": "k-3"}).status_code == 202  # a deleted job is gone


def test_the_dashboards_upload_keeps_its_idempotency_key(user, project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("ingest:job-create", kwargs={"project_id": project.pk})
    upload = SimpleUploadedFile("a.txt", b"Some words.\n", content_type="text/plain")
    response = browser(user).post(url, {"files": [upload]}, HTTP_IDEMPOTENCY_KEY="page-1", **HTMX)
    assert response.status_code == 201
    assert IdempotencyKey.objects.get(key="page-1").job.name == "a.txt"


def test_times_in_sentences_carry_their_year_and_zone():
    from ingest.views.http import moment

    assert moment(datetime(2026, 1, 6, 1, 50, tzinfo=UTC)) == "Jan 6, 2026, 01:50 UTC"
