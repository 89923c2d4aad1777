"""Purge: the only hard delete, for jobs soft-deleted long enough ago."""

import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob

from ingest import services
from ingest.models import Document, IdempotencyKey, IngestFile, IngestJob
from jobs import lifecycle
from jobs.models import JobStatus
from tests.factories import DocumentFactory, IngestFileFactory, IngestJobFactory

pytestmark = pytest.mark.django_db


def deleted_days_ago(project, days: int, name: str = "") -> IngestJob:
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED, name=name or f"{days}d")
    IngestFileFactory(job=job, name=f"{name or days}.txt")
    lifecycle.soft_delete(job)
    IngestJob.all_objects.filter(pk=job.pk).update(deleted_at=timezone.now() - timedelta(days=days))
    job.refresh_from_db()
    return job


def purge(*args) -> str:
    out = StringIO()
    call_command("purge_deleted_jobs", *args, stdout=out)
    return out.getvalue()


def test_purge_command_removes_jobs_deleted_long_enough_ago_with_their_files(project):
    old = deleted_days_ago(project, 40)
    recent = deleted_days_ago(project, 5)
    alive = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    old_paths = list(old.files.values_list("storage_path", flat=True))

    output = purge("--older-than", "30d")

    assert f"purged job {old.pk}" in output
    assert "purged 1 job(s) deleted more than 30 days" in output
    assert not IngestJob.all_objects.filter(pk=old.pk).exists()
    assert not IngestFile.objects.filter(job_id=old.pk).exists()
    assert not any(default_storage.exists(p) for p in old_paths)
    assert set(IngestJob.all_objects.all()) == {recent, alive}
    assert default_storage.exists(recent.files.get().storage_path)


def test_purge_dry_run_prints_and_removes_nothing(project):
    old = deleted_days_ago(project, 31, name="old report")
    output = purge("--older-than", "30d", "--dry-run")
    assert f"would purge job {old.pk} ('old report'" in output
    assert "would purge 1 job(s)" in output
    assert IngestJob.all_objects.filter(pk=old.pk).exists()
    assert default_storage.exists(old.files.get().storage_path)


@pytest.mark.parametrize(("age", "purged"), [("12h", 2), ("2d", 1), ("1w", 0), ("90m", 2)])
def test_purge_understands_units(project, age, purged):
    deleted_days_ago(project, 1)
    deleted_days_ago(project, 3)
    assert f"purged {purged} job(s)" in purge("--older-than", age)


@pytest.mark.parametrize("age", ["30", "thirty days", "30y", "1.5d"])
def test_purge_refuses_an_unreadable_age(project, age):
    deleted_days_ago(project, 40)
    with pytest.raises(CommandError, match="number and a unit"):
        purge("--older-than", age)
    assert IngestJob.all_objects.count() == 1


def test_purge_keeps_the_documents_a_job_produced(project):
    job = deleted_days_ago(project, 60)
    document = DocumentFactory(project=project, job=job, source_file=job.files.get())
    purge("--older-than", "30d")
    document.refresh_from_db()
    assert (document.job_id, document.source_file_id) == (None, None)
    assert Document.objects.count() == 1


def test_purge_removes_rq_entries_work_dir_and_idempotency_keys(project, redis_conn, settings):
    job = deleted_days_ago(project, 60)
    IdempotencyKey.objects.create(user=project.created_by, key="k", job=job)
    services.job_enqueue(job=job)
    work = settings.INGEST_WORK_DIR / str(job.pk)
    work.mkdir(parents=True)
    (work / "left.txt").write_text("x")
    assert services.job_purge(job=job) is True
    with pytest.raises(NoSuchJobError):
        RQJob.fetch(str(job.pk), connection=redis_conn)
    assert not work.exists()
    assert not IdempotencyKey.objects.exists()


def test_purge_refuses_an_alive_job_and_reports_one_already_gone(project):
    alive = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    with pytest.raises(lifecycle.InvalidTransition, match="not deleted"):
        services.job_purge(job=alive)
    assert IngestJob.objects.filter(pk=alive.pk).exists()
    gone = deleted_days_ago(project, 1)
    assert services.job_purge(job=gone) is True
    assert services.job_purge(job=gone) is False


def test_a_purged_job_cannot_be_restored(project):
    job = deleted_days_ago(project, 40)
    purge("--older-than", "30d")
    with pytest.raises(lifecycle.InvalidTransition):
        services.job_restore(job=job)


@pytest.mark.parametrize(
    "age",
    [
        "999999999999d",
        "99999999999999999999w",
        "999999999999999s",
        # Valid lengths of time, but now minus them is before the year 1.
        "3000000d",
        "999999999d",
        "142857142w",
    ],
)
def test_purge_refuses_an_age_too_large_with_one_sentence(project, age):
    deleted_days_ago(project, 40)
    with pytest.raises(CommandError, match="too large"):
        purge("--older-than", age)
    assert IngestJob.all_objects.count() == 1


def test_purge_command_line_says_one_line_for_an_age_too_large():
    # From a terminal: Django prints a CommandError as one line, with no traceback.
    done = subprocess.run(
        [sys.executable, "manage.py", "purge_deleted_jobs", "--older-than", "3000000d"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "too large" in done.stderr
