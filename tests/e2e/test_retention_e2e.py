"""Retention with real processes: a job ingested by a real worker and deleted
through the API is purged by a running reaper once its purge time passes."""

import time

import pytest
from django.core.files.storage import default_storage

from ingest.models import Document, IngestFile, IngestJob
from jobs.models import JobStatus
from tests.conftest import wait_for
from tests.e2e.helpers import create_job, finished, job_url, text_file

pytestmark = [pytest.mark.e2e]
PURGE_AFTER_DAYS = 3 / 86400  # three seconds


def test_running_reaper_purges_a_deleted_job_at_its_purge_time(
    api, project, start_worker, start_reaper, settings
):
    start_worker()
    job_id = create_job(api, project, [text_file("kept.txt", 1, 20_000)])
    assert wait_for(lambda: finished(job_id), timeout=60).status == JobStatus.COMPLETED
    paths = list(IngestFile.objects.filter(job_id=job_id).values_list("storage_path", flat=True))
    settings.INGEST_PURGE_AFTER_DAYS = PURGE_AFTER_DAYS  # this process's view of the same setting
    reaper = start_reaper("--purge-interval", "0.2", INGEST_PURGE_AFTER_DAYS=str(PURGE_AFTER_DAYS))

    assert api.delete(job_url(project, job_id)).status_code == 204
    job = IngestJob.all_objects.get(pk=job_id)
    purge_at = job.deleted_at.timestamp() + 3

    # The reaper reports once the purge has returned: the row goes first, then the files.
    wait_for(lambda: "purged=1" in reaper.output(), timeout=30, message="the reaper's purge")

    assert time.time() >= purge_at
    assert not IngestJob.all_objects.filter(pk=job_id).exists()
    assert not any(default_storage.exists(p) for p in paths)
    assert Document.objects.filter(project=project).count() == 1  # the project's data stays
