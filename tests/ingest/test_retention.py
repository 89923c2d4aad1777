"""Retention: the reaper purges jobs deleted more than INGEST_PURGE_AFTER_DAYS
ago, and the API, the admin and the dashboard say when a deleted job goes."""

import io
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from config.env import env_days
from ingest import retention, services
from ingest.models import IngestJob
from jobs import lifecycle
from jobs.models import JobStatus
from jobs.reaper import Reaper
from tests.conftest import ROOT
from tests.factories import IngestFileFactory, IngestJobFactory, UserFactory

pytestmark = pytest.mark.django_db


def deleted(project, *, days_ago: float) -> IngestJob:
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    IngestFileFactory(job=job)
    lifecycle.soft_delete(job)
    when = timezone.now() - timedelta(days=days_ago)
    IngestJob.all_objects.filter(pk=job.pk).update(deleted_at=when)
    job.refresh_from_db()
    return job


def reaper(settings, redis_conn, **retention_args) -> Reaper:
    return Reaper(
        model=IngestJob,
        connection=redis_conn,
        enqueue=lambda job: True,
        work_root=settings.INGEST_WORK_DIR,
        cancel_grace=timedelta(seconds=settings.INGEST_CANCEL_GRACE_SECONDS),
        heartbeat_timeout=timedelta(seconds=settings.INGEST_HEARTBEAT_TIMEOUT_SECONDS),
        **retention_args,
    )


def exists(job) -> bool:
    return IngestJob.all_objects.filter(pk=job.pk).exists()


@pytest.mark.parametrize(
    ("raw", "days"),
    [(None, 30), ("7", 7.0), ("0.5", 0.5), ("36525", 36525.0), ("", None), ("  ", None)],
)
def test_purge_after_days_reads_numbers_fractions_and_empty(monkeypatch, raw, days):
    if raw is None:
        monkeypatch.delenv("INGEST_PURGE_AFTER_DAYS", raising=False)
    else:
        monkeypatch.setenv("INGEST_PURGE_AFTER_DAYS", raw)
    assert env_days("INGEST_PURGE_AFTER_DAYS", 30) == days


@pytest.mark.parametrize("raw", ["soon", "0", "-1", "nan", "inf", "1e9", "36526"])
def test_purge_after_days_refuses_what_is_not_a_positive_number(raw):
    env = {**os.environ, "INGEST_PURGE_AFTER_DAYS": raw}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "INGEST_PURGE_AFTER_DAYS must be" in done.stderr


def test_purge_at_is_deletion_plus_the_setting(project, settings):
    alive = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    gone = deleted(project, days_ago=1)
    settings.INGEST_PURGE_AFTER_DAYS = 2.5
    assert retention.purge_at(alive) is None
    assert retention.purge_at(gone) == gone.deleted_at + timedelta(days=2.5)
    settings.INGEST_PURGE_AFTER_DAYS = None
    assert retention.purge_at(gone) is None


def test_reaper_purges_jobs_deleted_long_enough_ago(project, settings, redis_conn):
    old, recent = deleted(project, days_ago=3), deleted(project, days_ago=1)
    alive = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    old_paths = list(old.files.values_list("storage_path", flat=True))
    for path in old_paths:
        default_storage.save(path, io.BytesIO(b"x"))

    report = reaper(
        settings, redis_conn, purge=services.purge_deleted_jobs, purge_age=timedelta(days=2)
    ).reap()

    assert report.purged == [old.pk]
    assert not exists(old) and exists(recent) and exists(alive)
    assert not any(default_storage.exists(p) for p in old_paths)


def test_reaper_purges_at_most_once_an_interval(project, settings, redis_conn):
    pass_ = reaper(
        settings,
        redis_conn,
        purge=services.purge_deleted_jobs,
        purge_age=timedelta(hours=1),
        purge_interval=3600,
    )
    assert pass_.reap().purged == []
    due = deleted(project, days_ago=1)
    assert pass_.reap().purged == []  # within the interval: not looked at
    assert exists(due)
    pass_.purge_interval = 0
    assert pass_.reap().purged == [due.pk]


def test_reaper_without_a_purge_age_purges_nothing(project, settings, redis_conn):
    old = deleted(project, days_ago=400)
    report = reaper(settings, redis_conn, purge=services.purge_deleted_jobs, purge_age=None).reap()
    assert report.purged == [] and exists(old)
    assert reaper(settings, redis_conn).reap().purged == []


def test_reaper_command_purges_with_the_setting(project, settings):
    old, recent = deleted(project, days_ago=0.2), deleted(project, days_ago=0.01)
    settings.INGEST_PURGE_AFTER_DAYS = 0.1
    call_command("ingest_reaper", "--once")
    assert not exists(old) and exists(recent)
    settings.INGEST_PURGE_AFTER_DAYS = None
    call_command("ingest_reaper", "--once")
    assert exists(recent)


def test_api_shows_purge_at_on_a_force_deleted_job_once_deleted(api, project, settings):
    settings.INGEST_PURGE_AFTER_DAYS = 30
    job = IngestJobFactory(project=project, status=JobStatus.QUEUED)
    url = f"/api/projects/{project.pk}/ingest/jobs/{job.pk}/"
    assert api.get(url).json()["purge_at"] is None

    response = api.delete(url + "?force=true")

    job = IngestJob.all_objects.get(pk=job.pk)
    assert response.status_code == 202
    assert job.deleted_at is not None  # a queued job is cancelled, then deleted at once
    expected = job.deleted_at + timedelta(days=30)
    assert response.json()["purge_at"] == expected.isoformat().replace("+00:00", "Z")


def test_admin_lists_when_deleted_jobs_are_purged(client, project, settings):
    settings.INGEST_PURGE_AFTER_DAYS = 10
    gone = deleted(project, days_ago=1)
    auditor = UserFactory(is_staff=True)
    auditor.groups.add(Group.objects.get(name="auditors"))
    client.force_login(auditor)
    page = client.get("/admin/ingest/ingestjob/?deleted=yes").content.decode()
    # A date to come, labelled so, and written for people (not ISO 8601).
    purge = timezone.localtime(retention.purge_at(gone)).strftime("%b %-d, %Y, %H:%M UTC")
    assert "purge due" in page.lower() and purge in page
    assert "Deleted (had completed)" in page
    detail = client.get(f"/admin/ingest/ingestjob/{gone.pk}/change/").content.decode()
    assert "purge due" in detail.lower() and purge in detail
    assert retention.purge_at(gone).isoformat()[:16] not in detail


def test_dashboard_says_when_a_deleted_job_is_purged(client, user, project, settings):
    settings.INGEST_PURGE_AFTER_DAYS = 30
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED, name="old report")
    client.force_login(user)
    response = client.post(
        f"/projects/{project.pk}/jobs/{job.pk}/delete/", follow=True, HTTP_ACCEPT="text/html"
    )
    text = response.content.decode()
    assert "Job “old report” deleted." in text
    assert "Auditors can see it until it is purged for good on" in text
