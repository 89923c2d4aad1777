"""POST .../cleanup/: exact counts of what was really removed, idempotent, and
documents removed only when this job is their only source."""

import importlib
from dataclasses import asdict

import django_rq
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob

from ingest import services
from ingest.models import Chunk, Document, DocumentSource, IngestJob, Role
from jobs import lifecycle
from jobs.models import JobEvent, JobStatus
from tests.conftest import client_for, member
from tests.factories import DocumentFactory, IngestFileFactory, IngestJobFactory, UserFactory

pytestmark = pytest.mark.django_db

NOTHING = {
    "files_removed": 0,
    "bytes_freed": 0,
    "work_dirs_removed": 0,
    "rq_entries_removed": 0,
    "documents_removed": 0,
    "chunks_removed": 0,
    "removed_anything": False,
    "detail": "nothing to remove: this job was already cleaned up.",
}


def cleanup_url(project, job) -> str:
    return f"/api/projects/{project.pk}/ingest/jobs/{job.pk}/cleanup/"


def upload_for(job, position, content: bytes):
    """A stored upload where job_create puts it."""
    path = default_storage.save(
        f"jobs/{job.project_id}/{job.pk}/{position:04d}-f.txt", ContentFile(content)
    )
    return IngestFileFactory(job=job, position=position, storage_path=path, size=len(content))


def document_from(files, chunks=2):
    """A document whose sources are ``files`` (the first one produced it)."""
    first = files[0]
    document = DocumentFactory(
        project=first.job.project, job=first.job, source_file=first, chunk_count=chunks
    )
    for index in range(chunks):
        Chunk.objects.create(document=document, index=index, text="t", start=index, end=index + 1)
    for file in files:
        DocumentSource.objects.create(document=document, file=file)
    return document


@pytest.fixture
def finished_job(project, settings):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    upload_for(job, 0, b"a" * 100)
    upload_for(job, 1, b"b" * 250)
    work = settings.INGEST_WORK_DIR / str(job.pk)
    (work / "nested").mkdir(parents=True)
    (work / "copy.txt").write_bytes(b"c" * 40)
    (work / "nested" / "part").write_bytes(b"d" * 10)
    return job


def put_in_rq(job, redis_conn):
    """The job's hash, its place in the queue, and a failed-registry entry."""
    services.job_enqueue(job=job)
    rq_job = RQJob.fetch(str(job.pk), connection=redis_conn)
    django_rq.get_queue("ingest").failed_job_registry.add(rq_job, ttl=600)


def test_cleanup_removes_files_work_dir_and_rq_entries_with_exact_counts(
    api, project, finished_job, redis_conn, settings
):
    put_in_rq(finished_job, redis_conn)
    response = api.post(cleanup_url(project, finished_job))
    assert response.status_code == 200
    assert response.json() == {
        "files_removed": 2,
        "bytes_freed": 100 + 250 + 40 + 10,
        "work_dirs_removed": 1,
        "rq_entries_removed": 3,  # queue list, failed registry, job hash
        "documents_removed": 0,
        "chunks_removed": 0,
        "removed_anything": True,
        "detail": response.json()["detail"],
    }
    assert "400 bytes freed" in response.json()["detail"]
    for file in finished_job.files.all():
        assert not default_storage.exists(file.storage_path)
    assert not (settings.MEDIA_ROOT / f"jobs/{project.pk}/{finished_job.pk}").exists()
    assert not (settings.INGEST_WORK_DIR / str(finished_job.pk)).exists()
    with pytest.raises(NoSuchJobError):
        RQJob.fetch(str(finished_job.pk), connection=redis_conn)
    queue = django_rq.get_queue("ingest")
    assert queue.failed_job_registry.count == 0
    assert redis_conn.llen("rq:queue:ingest") == 0


def test_a_second_cleanup_removes_nothing_and_says_so(api, project, finished_job, redis_conn):
    put_in_rq(finished_job, redis_conn)
    assert api.post(cleanup_url(project, finished_job), {"documents": True}).status_code == 200
    again = api.post(cleanup_url(project, finished_job), {"documents": True})
    assert again.status_code == 200
    assert again.json() == NOTHING


def test_cleanup_keeps_the_job_and_its_file_rows(api, project, finished_job):
    api.post(cleanup_url(project, finished_job))
    body = api.get(f"/api/projects/{project.pk}/ingest/jobs/{finished_job.pk}/").json()
    assert body["status"] == "completed"
    assert len(body["result"]["files"]) == 2


def test_a_missing_file_is_not_an_error(api, project, finished_job):
    first = finished_job.files.first()
    default_storage.delete(first.storage_path)
    response = api.post(cleanup_url(project, finished_job))
    assert response.status_code == 200
    assert response.json()["files_removed"] == 1
    assert response.json()["bytes_freed"] == 250 + 40 + 10


def test_cleanup_with_documents_removes_only_those_this_job_alone_produced(
    api, project, finished_job
):
    own_a, own_b = finished_job.files.all()
    other_job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    other_file = upload_for(other_job, 0, b"other")
    mine = document_from([own_a], chunks=3)
    also_mine = document_from([own_b, own_a], chunks=1)  # a duplicate within the job
    shared = document_from([own_b, other_file])  # produced here, found again there
    theirs = document_from([other_file, own_a])  # produced there, a duplicate here
    unrelated = document_from([other_file])

    response = api.post(cleanup_url(project, finished_job), {"documents": True}, format="json")

    assert response.status_code == 200
    assert (response.json()["documents_removed"], response.json()["chunks_removed"]) == (2, 4)
    remaining = set(Document.objects.values_list("pk", flat=True))
    assert remaining == {shared.pk, theirs.pk, unrelated.pk}
    assert not Chunk.objects.filter(document__in=[mine.pk, also_mine.pk]).exists()
    assert Chunk.objects.filter(document=shared).count() == 2


def test_cleanup_without_the_documents_flag_keeps_documents(api, project, finished_job):
    document = document_from([finished_job.files.first()])
    assert api.post(cleanup_url(project, finished_job)).json()["documents_removed"] == 0
    assert Document.objects.filter(pk=document.pk).exists()


def test_cleanup_is_audited_every_time(api, project, finished_job, user):
    api.post(cleanup_url(project, finished_job))
    api.post(cleanup_url(project, finished_job))
    events = JobEvent.objects.filter(job_id=finished_job.pk, action="cleanup").order_by("id")
    assert [(e.from_status, e.to_status, e.actor) for e in events] == [
        ("completed", "completed", user)
    ] * 2
    assert (events[0].reason, events[0].extra["files_removed"]) == ("", 2)
    assert events[0].extra["bytes_freed"] == 100 + 250 + 40 + 10
    assert events[1].extra == dict.fromkeys(events[0].extra, 0)  # nothing left to remove
    finished_job.refresh_from_db()
    assert finished_job.version == 1  # no transition, so the ETag stands


def test_the_audit_trail_shows_a_cleanups_counts(api, project, finished_job):
    api.post(cleanup_url(project, finished_job))
    events = api.get(f"/api/projects/{project.pk}/ingest/jobs/{finished_job.pk}/events/").json()
    (cleanup,) = [e for e in events["results"] if e["action"] == "cleanup"]
    assert cleanup["reason"] == (
        "400 bytes freed, chunks removed: 0, documents removed: 0, files removed: 2, "
        "rq entries removed: 0, work dirs removed: 1"
    )


def test_sizes_in_the_audit_trail_and_the_report_read_as_people_read_them():
    report = services.CleanupReport(files_removed=1, bytes_freed=163_459_656)
    assert "(155.9 MB freed)" in report.detail
    event = JobEvent(action="cleanup", extra={"bytes_freed": 163_459_656, "files_removed": 1})
    assert event.summary == "155.9 MB freed, files removed: 1"


def test_cleanup_events_written_before_extra_get_their_counts_moved_there():
    migration = importlib.import_module("jobs.migrations.0004_cleanup_counts_in_extra")
    report = services.CleanupReport(
        files_removed=2, bytes_freed=400, work_dirs_removed=1, documents_removed=3
    )
    assert migration.counts_from_reason(report.detail) == asdict(report)
    assert migration.counts_from_reason(NOTHING["detail"]) == asdict(services.CleanupReport())
    assert migration.counts_from_reason("tidied up by hand") is None
    assert migration.reason_from_counts(asdict(report)) == report.detail


@pytest.mark.parametrize("state", ["queued", "running", "cancelling"])
def test_cleanup_of_an_active_job_is_409(api, project, state, settings):
    job = IngestJobFactory(project=project, status=state)
    upload = upload_for(job, 0, b"still needed")
    response = api.post(cleanup_url(project, job))
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert state in response.json()["detail"]
    assert default_storage.exists(upload.storage_path)
    assert not JobEvent.objects.filter(job_id=job.pk).exists()


def test_cleanup_of_a_deleted_unknown_or_foreign_job_is_404(api, project):
    gone = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    lifecycle.soft_delete(gone)
    foreign = IngestJobFactory(status=JobStatus.COMPLETED)
    for job in (gone, foreign):
        response = api.post(cleanup_url(project, job))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    outsider = client_for(UserFactory())
    assert outsider.post(cleanup_url(project, foreign)).status_code == 404


def test_cleanup_by_a_viewer_is_403_and_with_a_stale_etag_412(api, project, finished_job):
    viewer = client_for(member(project, Role.VIEWER))
    assert viewer.post(cleanup_url(project, finished_job)).status_code == 403
    stale = api.post(cleanup_url(project, finished_job), headers={"If-Match": 'W/"9"'})
    assert stale.status_code == 412
    assert all(default_storage.exists(f.storage_path) for f in finished_job.files.all())


def test_cleanup_with_a_bad_documents_flag_is_a_field_error(api, project, finished_job):
    response = api.post(cleanup_url(project, finished_job), {"documents": "perhaps"}, format="json")
    assert response.status_code == 400
    assert "documents" in response.json()["errors"]


def test_cleanup_service_works_on_a_deleted_job(project, finished_job):
    lifecycle.soft_delete(finished_job)
    report = services.job_cleanup(job=finished_job)
    assert report.files_removed == 2
    assert IngestJob.all_objects.get(pk=finished_job.pk).deleted_at is not None
