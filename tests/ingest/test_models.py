"""The ingest models' own reads: a job's result, from its files' rows."""

import pytest

from ingest.models import DocumentSource
from jobs.models import JobStatus
from tests.factories import DocumentFactory, IngestFileFactory, IngestJobFactory

pytestmark = pytest.mark.django_db


def test_job_result_reports_each_file_and_partial_cancels(project):
    job = IngestJobFactory(project=project, status=JobStatus.CANCELLED)
    done = IngestFileFactory(job=job, position=0, status="done", chunks=4)
    twin = IngestFileFactory(job=job, position=1, status="duplicate")
    IngestFileFactory(job=job, position=2)
    document = DocumentFactory(project=project, job=job, source_file=done)
    DocumentSource.objects.create(document=document, file=done)
    DocumentSource.objects.create(document=document, file=twin)
    result = job.build_result()
    assert result["partial"] is True
    assert result["documents_created"] == 1
    assert [(f["status"], f["document"]) for f in result["files"]] == [
        ("done", str(document.pk)),
        ("duplicate", str(document.pk)),
        ("not_reached", None),
    ]


def test_job_result_of_a_completed_job_is_not_partial(project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    IngestFileFactory(job=job, status="failed", error="bad")
    assert job.build_result()["partial"] is False


def test_job_result_lists_zip_members(project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    members = [{"name": "a.md", "status": "done"}]
    IngestFileFactory(job=job, kind="zip", members=members, status="done")
    (entry,) = job.build_result()["files"]
    assert entry["members"] == members
