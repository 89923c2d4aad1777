"""Uploads on the moto bucket, ingested by real rqworker processes that stream
them from the bucket: a whole job with real inputs, its cleanup, and the
bucket going away mid-job."""

import io
import os
import signal
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.models import Document, FileStatus, IngestFile
from jobs.models import JobStatus
from tests.conftest import wait_for
from tests.e2e.helpers import create_job, finished, job_row, job_url, text_file
from tests.factories import member_results

pytestmark = [pytest.mark.e2e]

DOCS = [
    Path("/usr/share/doc/dpkg/spec/triggers.txt"),
    *sorted(Path("/usr/share/doc/git/RelNotes").glob("2.1*.txt"))[:3],
]


@pytest.fixture
def bucket(s3, worker_env):
    worker_env.update(s3.env)
    return s3


def real_file(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def test_a_job_on_object_storage_is_ingested_then_cleaned_up(api, project, bucket, start_worker):
    assert all(p.exists() for p in DOCS), "Debian's docs are the real inputs here"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in DOCS[1:]:
            zipped.write(path, f"relnotes/{path.name}")
    files = [
        *(real_file(p) for p in DOCS),
        SimpleUploadedFile("relnotes.zip", archive.getvalue(), content_type="application/zip"),
    ]
    job_id = create_job(api, project, files, chunk_size=500, chunk_overlap=50)
    assert len(bucket.keys()) == len(files)  # stored before any worker ran

    worker = start_worker()

    job = wait_for(lambda: finished(job_id), timeout=120, message="the job to finish")
    assert job.status == JobStatus.COMPLETED, worker.output()
    body = api.get(job_url(project, job_id)).json()
    statuses = [f["status"] for f in body["result"]["files"]]
    assert statuses == ["done"] * len(DOCS) + ["done"]
    zipped_members = member_results(IngestFile.objects.get(job_id=job_id, kind="zip"))
    assert [m["status"] for m in zipped_members] == ["duplicate"] * 3  # same texts as above
    triggers = Document.objects.get(project=project, title="triggers.txt")
    text = "".join(triggers.chunks.order_by("index").values_list("text", flat=True))
    assert "trigger" in text

    cleanup = api.post(job_url(project, job_id, "cleanup/")).json()

    assert cleanup["files_removed"] == len(files)
    assert cleanup["bytes_freed"] == sum(f.size for f in files)
    assert bucket.keys() == []


def test_the_bucket_going_away_mid_job_fails_the_job_and_keeps_finished_files(
    api, project, bucket, start_worker, client, settings
):
    files = [text_file(f"part{n}.txt", n, 300_000) for n in range(6)]
    job_id = create_job(api, project, files)
    worker = start_worker()
    wait_for(lambda: job_row(job_id).items_done >= 1, timeout=120, message="a first file done")
    horse = worker.freeze_horse()
    try:
        bucket.remove()
    finally:
        os.kill(horse, signal.SIGCONT)

    job = wait_for(lambda: finished(job_id), timeout=120, message="the job to stop")

    assert job.status == JobStatus.FAILED, worker.output()
    assert f"the upload bucket '{bucket.name}' does not exist" in job.error
    assert "Retry the job once it is fixed" in job.error
    statuses = list(IngestFile.objects.filter(job=job).values_list("status", flat=True))
    done = statuses.count(FileStatus.DONE)
    assert 1 <= done < 6
    assert statuses == [FileStatus.DONE] * done + [FileStatus.PENDING] * (6 - done)
    assert Document.objects.filter(job=job).count() == done
    assert not (settings.INGEST_WORK_DIR / job_id).exists()
    assert client.get("/readyz").json()["checks"]["storage"]["ok"] is False
    # While the bucket is missing a retry cannot read the uploads: 503, not 500.
    unavailable = api.post(job_url(project, job_id, "retry/"))
    assert unavailable.status_code == 503
    assert "does not exist" in unavailable.json()["detail"]
    # A new, empty bucket of that name: the uploads are gone for good.
    bucket.client.create_bucket(Bucket=bucket.name)
    gone = api.post(job_url(project, job_id, "retry/"))
    assert gone.status_code == 409
    assert "its uploads were removed" in gone.json()["detail"]
