"""The write services the API, dashboard, admin and commands share."""

import hashlib
import time

import django_rq
import django_rq.settings
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob

from ingest import services
from ingest.models import IdempotencyKey, IngestFile, IngestJob, Membership, Role
from ingest.services import intake, queue
from jobs import lifecycle
from jobs.models import JobEvent, JobStatus
from tests.conftest import member
from tests.factories import IngestJobFactory, UserFactory

pytestmark = pytest.mark.django_db


def upload(name="a.txt", content=b"Plain text.\n"):
    return SimpleUploadedFile(name, content)


def stored(settings) -> list:
    root = settings.MEDIA_ROOT
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def rq_has(redis_conn, job_id) -> bool:
    try:
        RQJob.fetch(str(job_id), connection=redis_conn)
    except NoSuchJobError:
        return False
    return True


# --- projects and members ----------------------------------------------------


def test_project_create_makes_its_creator_owner(user):
    project = services.project_create(user=user, name="  Archive ")
    assert project.name == "Archive"
    assert Membership.objects.get(project=project).role == Role.OWNER


def test_membership_add_adds_then_changes_a_role(project):
    owner = Membership.objects.get(project=project, role=Role.OWNER)
    newcomer = UserFactory()
    added = services.membership_add(
        actor_membership=owner, username=newcomer.username, role=Role.VIEWER
    )
    assert added.role == Role.VIEWER
    services.membership_add(actor_membership=owner, username=newcomer.username, role=Role.MEMBER)
    assert Membership.objects.get(project=project, user=newcomer).role == Role.MEMBER


def test_membership_add_is_refused_to_a_non_owner(project):
    writer = Membership.objects.get(user=member(project, Role.MEMBER))
    with pytest.raises(services.PermissionRefused):
        services.membership_add(
            actor_membership=writer, username=UserFactory().username, role=Role.OWNER
        )


def test_membership_add_of_an_unknown_user_names_the_field(project):
    owner = Membership.objects.get(project=project, role=Role.OWNER)
    with pytest.raises(services.InvalidInput) as refused:
        services.membership_add(actor_membership=owner, username="ghost", role=Role.MEMBER)
    assert (refused.value.code, refused.value.field) == ("invalid", "username")


# --- job_create ----------------------------------------------------------------


def test_job_create_stores_files_and_rows(project, user, settings):
    content = b"%PDF-1.4 not really a pdf"
    job, created = services.job_create(
        project=project,
        user=user,
        uploads=[upload("my notes (v2).txt"), upload("scan.dat.txt", content)],
    )
    assert created
    assert job.status == JobStatus.QUEUED
    assert (job.items_total, job.bytes_total) == (2, 12 + len(content))
    assert job.name == "my notes (v2).txt and 1 more"
    first, second = job.files.all()
    assert first.storage_path == f"jobs/{project.pk}/{job.pk}/0000-my_notes_v2_.txt"
    assert first.name == "my notes (v2).txt"
    assert second.kind == "pdf"  # judged by content, not by the name
    assert second.content_type == "application/pdf"
    assert second.sha256 == hashlib.sha256(content).hexdigest()
    with default_storage.open(second.storage_path) as saved:
        assert saved.read() == content
    assert len(stored(settings)) == 2
    assert all(settings.MEDIA_ROOT in p.parents for p in stored(settings))


def test_job_create_enqueues_only_after_commit(
    project, user, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job, _ = services.job_create(project=project, user=user, uploads=[upload()])
    assert not rq_has(redis_conn, job.pk)
    for callback in callbacks:
        callback()
    assert RQJob.fetch(str(job.pk), connection=redis_conn).get_status() == "queued"


def test_job_create_records_the_creation_event(project, user):
    job, _ = services.job_create(project=project, user=user, uploads=[upload()])
    assert list(lifecycle.events_for(job).values_list("action", "to_status", "actor")) == [
        ("create", "queued", user.pk)
    ]


def test_job_create_with_a_known_key_returns_the_first_job_for_the_same_request(project, user):
    first, created = services.job_create(
        project=project, user=user, uploads=[upload()], idempotency_key="k1"
    )
    again, created_again = services.job_create(
        project=project, user=user, uploads=[upload()], idempotency_key="k1"
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert IdempotencyKey.objects.get().job_id == first.pk
    # A repeat is checked like a first request: the key alone proves nothing.
    with pytest.raises(services.InvalidInput):
        services.job_create(project=project, user=user, uploads=[], idempotency_key="k1")


def test_job_create_defaults_and_bounds_chunking(project, user, settings):
    settings.INGEST_CHUNK_SIZE = 1000
    settings.INGEST_CHUNK_OVERLAP = 100
    job, _ = services.job_create(project=project, user=user, uploads=[upload()])
    assert (job.chunk_size, job.chunk_overlap) == (1000, 100)
    # The default overlap never exceeds half of a small chunk size.
    small, _ = services.job_create(project=project, user=user, uploads=[upload()], chunk_size=60)
    assert (small.chunk_size, small.chunk_overlap) == (60, 30)


@pytest.mark.parametrize(
    ("size", "overlap", "field"),
    [(49, None, "chunk_size"), (100_001, None, "chunk_size"), (100, 51, "chunk_overlap")],
)
def test_check_chunking_refuses_out_of_range_values(size, overlap, field):
    with pytest.raises(services.InvalidInput) as refused:
        intake.check_chunking(size, overlap)
    assert refused.value.field == field


def test_job_create_refuses_a_large_file_by_its_size(project, user, settings):
    settings.INGEST_MAX_FILE_BYTES = 10
    with pytest.raises(services.InvalidInput) as refused:
        services.job_create(project=project, user=user, uploads=[upload(content=b"x" * 11)])
    assert refused.value.code == "too_large"
    assert not IngestJob.all_objects.exists()


def test_job_create_refuses_everything_when_one_file_is_unsupported(project, user, settings):
    with pytest.raises(services.InvalidInput) as refused:
        services.job_create(
            project=project,
            user=user,
            uploads=[upload(), upload("binary.txt", b"\x00\x01\x02\xff" * 100)],
        )
    assert refused.value.code == "unsupported_type"
    assert not IngestJob.all_objects.exists()
    assert stored(settings) == []


def test_job_create_removes_stored_files_when_storing_fails_midway(
    project, user, settings, monkeypatch
):
    real_store = intake._store

    def store_then_fail(job, position, item):
        if position == 1:
            raise OSError("disk full")
        return real_store(job, position, item)

    monkeypatch.setattr(intake, "_store", store_then_fail)
    with pytest.raises(OSError):
        services.job_create(project=project, user=user, uploads=[upload(), upload("b.txt")])
    assert not IngestJob.all_objects.exists()
    assert not IngestFile.objects.exists()
    assert stored(settings) == []


def test_job_enqueue_survives_a_redis_outage(project, monkeypatch, caplog):
    job = IngestJobFactory(project=project)
    monkeypatch.setitem(django_rq.settings.QUEUES, "ingest", {"URL": "redis://127.0.0.1:1/0"})
    assert services.job_enqueue(job=job) is False
    assert "not enqueued" in caplog.text
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_the_queue_is_reached_through_one_client_per_process_and_redis_address(monkeypatch):
    first, second = services.ingest_queue(), services.ingest_queue(commit_mode="auto")
    assert first.connection is second.connection  # one pool, its connections reused
    # The same Redis connection answers each call (django-rq opened one a call).
    assert len({services.ingest_queue().connection.client_id() for _ in range(3)}) == 1

    monkeypatch.setitem(django_rq.settings.QUEUES, "ingest", {"URL": "redis://127.0.0.1:1/0"})
    elsewhere = services.ingest_queue().connection
    assert elsewhere is not first.connection
    assert elsewhere.connection_pool.connection_kwargs["port"] == 1


# --- cancel and delete -------------------------------------------------------


def test_job_cancel_of_a_queued_job_removes_it_from_the_queue(
    project, user, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = services.job_create(project=project, user=user, uploads=[upload()])
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.job_cancel(job=job, actor=user, reason="not needed")
    assert (outcome.from_status, outcome.to_status) == ("queued", "cancelled")
    assert not rq_has(redis_conn, job.pk)
    assert redis_conn.llen("rq:queue:ingest") == 0


def test_job_cancel_of_a_running_job_asks_the_worker(project, user):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    outcome = services.job_cancel(job=job, actor=user)
    assert outcome.to_status == JobStatus.CANCELLING
    job.refresh_from_db()
    assert (job.status, job.cancel_requested_by) == (JobStatus.CANCELLING, user)


def test_job_cancel_of_a_finished_job_is_refused(project):
    job = IngestJobFactory(project=project, status=JobStatus.FAILED)
    with pytest.raises(lifecycle.InvalidTransition, match="failed"):
        services.job_cancel(job=job)


def test_job_delete_soft_deletes_a_finished_job_and_audits_its_old_status(project, user):
    job = IngestJobFactory(project=project, status=JobStatus.FAILED)
    assert services.job_delete(job=job, actor=user, reason="tidy up")
    assert not IngestJob.objects.filter(pk=job.pk).exists()
    assert not project.jobs.exists()
    deleted = IngestJob.all_objects.get(pk=job.pk)
    assert (deleted.status, deleted.deleted_at is not None) == (JobStatus.CANCELLED, True)
    event = JobEvent.objects.get(job_id=job.pk, action="delete")
    assert (event.from_status, event.to_status, event.actor, event.reason) == (
        "failed",
        "cancelled",
        user,
        "tidy up",
    )


def test_job_delete_of_an_already_deleted_job_loses(project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    stale = IngestJob.objects.get(pk=job.pk)
    assert services.job_delete(job=job)
    assert not services.job_delete(job=stale)
    assert JobEvent.objects.filter(job_id=job.pk, action="delete").count() == 1


def test_job_delete_of_an_active_job_without_force_is_refused(project):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    with pytest.raises(lifecycle.InvalidTransition) as refused:
        services.job_delete(job=job)
    assert "cancel the job first, or repeat with ?force=true" in refused.value.message
    job.refresh_from_db()
    assert (job.status, job.delete_requested_at) == (JobStatus.RUNNING, None)


def test_force_delete_of_a_queued_job_deletes_it_and_empties_the_queue(
    project, user, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = services.job_create(project=project, user=user, uploads=[upload()])
        assert rq_has(redis_conn, job.pk) is False  # not before commit
    with django_capture_on_commit_callbacks(execute=True):
        services.job_delete(job=job, actor=user, force=True)
    deleted = IngestJob.all_objects.get(pk=job.pk)
    assert (deleted.status, deleted.deleted_at is not None) == (JobStatus.CANCELLED, True)
    assert not rq_has(redis_conn, job.pk)
    actions = list(lifecycle.events_for(job).values_list("action", flat=True))
    assert actions == ["create", "cancel", "delete"]


def test_force_delete_of_a_running_job_ends_deleted_once_cancelled(project, user):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    outcome = services.job_delete(job=job, actor=user, force=True)
    assert outcome.to_status == JobStatus.CANCELLING
    job.refresh_from_db()
    assert job.delete_requested_at is not None and job.deleted_at is None
    # What the worker does at its next checkpoint.
    lifecycle.finish_cancelled(job, result={"files": []})
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.deleted_at is not None


def test_remove_from_queue_of_a_job_a_killed_worker_left_behind_is_harmless(redis_conn):
    # A worker killed mid-job leaves an execution listed that Redis no longer
    # holds; RQ's delete then raises ValueError, after the cancel committed.
    job = IngestJobFactory(status=JobStatus.QUEUED)
    services.job_enqueue(job=job)
    redis_conn.zadd(f"rq:executions:{job.pk}", {"gone-execution": time.time() + 3600})

    queue.remove_from_queue(job_id=str(job.pk))

    assert str(job.pk) not in django_rq.get_queue("ingest").job_ids


def test_remove_from_queue_of_an_unknown_job_is_harmless(redis_conn):
    queue.remove_from_queue(job_id="00000000-0000-0000-0000-000000000000")
    assert redis_conn.llen("rq:queue:ingest") == 0


def test_remove_from_queue_leaves_nothing_of_the_job_in_redis(redis_conn):
    job = IngestJobFactory(status=JobStatus.QUEUED)
    services.job_enqueue(job=job)
    other = IngestJobFactory(status=JobStatus.QUEUED)
    services.job_enqueue(job=other)

    queue.remove_from_queue(job_id=str(job.pk))

    assert django_rq.get_queue("ingest").job_ids == [str(other.pk)]
    assert not redis_conn.exists(f"rq:job:{job.pk}")
    with pytest.raises(NoSuchJobError):
        RQJob.fetch(str(job.pk), connection=redis_conn)


def test_remove_from_queue_of_a_job_whose_record_is_gone_still_unlists_it(redis_conn):
    job = IngestJobFactory(status=JobStatus.QUEUED)
    services.job_enqueue(job=job)
    redis_conn.delete(f"rq:job:{job.pk}")

    queue.remove_from_queue(job_id=str(job.pk))

    assert django_rq.get_queue("ingest").job_ids == []
