"""The ingest models' own reads: a job's result, from its files' rows."""

import pytest

from ingest.models import DocumentSource, IngestJob
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
    members = [{"name": "a.md", "status": "done", "chunks": 3, "kind": "md"}]
    IngestFileFactory(job=job, kind="zip", members=members, status="done")
    (entry,) = job.build_result()["files"]
    assert entry["members"] == [
        {
            "name": "a.md",
            "status": "done",
            "document": None,
            "chunks": 3,
            "error": None,
            "kind": "md",
            "encoding": None,
            "pages": None,
        }
    ]
    assert entry["members_total"] == 1


def test_job_result_shows_the_first_members_and_counts_them_all(project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    members = [{"name": f"m{n:03}.txt", "status": "done"} for n in range(45)]
    IngestFileFactory(job=job, kind="zip", members=members, status="done")
    (entry,) = job.build_result()["files"]
    assert [m["name"] for m in entry["members"]] == [f"m{n:03}.txt" for n in range(20)]
    assert entry["members_total"] == 45


def test_job_result_works_whatever_its_caller_read_of_the_files(project):
    """build_result reads each file's own document whether the caller read the
    files with their documents' ids (files_with_documents), plainly, or not at
    all: bench.soak prefetched them plainly and build_result crashed."""
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    done = IngestFileFactory(job=job, position=0, status="done", chunks=2)
    document = DocumentFactory(project=project, job=job, source_file=done)
    DocumentSource.objects.create(document=document, file=done)
    plain = IngestJob.objects.prefetch_related("files").get(pk=job.pk)
    annotated = IngestJob.objects.prefetch_related(IngestJob.files_with_documents()).get(pk=job.pk)
    unread = IngestJob.objects.get(pk=job.pk)

    results = [j.build_result() for j in (plain, annotated, unread)]
    assert results[0] == results[1] == results[2]
    assert results[0]["files"][0]["document"] == str(document.pk)


def test_job_result_stays_partial_once_stored_partial(project):
    """A job whose stored result says partial (a cancel cut it short) stays
    partial, whatever its status now; an empty stored result adds nothing."""
    job = IngestJobFactory(project=project, status=JobStatus.FAILED, result={"partial": True})
    IngestFileFactory(job=job, status="done")
    assert job.build_result()["partial"] is True
    job = IngestJobFactory(project=project, status=JobStatus.FAILED, result={})
    IngestFileFactory(job=job, status="done")
    assert job.build_result()["partial"] is False
