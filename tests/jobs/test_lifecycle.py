"""Every transition of jobs.lifecycle, allowed and refused, on real rows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ingest.models import FileStatus, IngestJob
from jobs import lifecycle
from jobs.lifecycle import InvalidTransition, Outcome
from jobs.models import JobStatus as S
from tests.factories import IngestFileFactory, IngestJobFactory, UserFactory

pytestmark = pytest.mark.django_db

ALL_STATES = [S.QUEUED, S.RUNNING, S.CANCELLING, S.COMPLETED, S.FAILED, S.CANCELLED]


def events(job):
    return list(lifecycle.events_for(job))


def row(job):
    return IngestJob.all_objects.get(pk=job.pk)


def assert_refused(job, outcome):
    """A lost transition: falsy outcome, row untouched, no audit event."""
    before_status, before_version = job.status, job.version
    assert not outcome
    assert outcome == lifecycle.LOST
    fresh = row(job)
    assert (fresh.status, fresh.version) == (before_status, before_version)
    assert events(job) == []


# --- Outcome ------------------------------------------------------------------


def test_outcome_is_truthy_only_when_it_left_a_state():
    assert Outcome(S.RUNNING, S.COMPLETED)
    assert Outcome(S.CANCELLING, S.CANCELLING)
    assert not Outcome(None, None)
    assert not lifecycle.LOST


# --- start ----------------------------------------------------------------------


def test_start_moves_queued_job_to_running():
    job = IngestJobFactory(status=S.QUEUED)

    outcome = lifecycle.start(job, worker_host="host-1")

    assert outcome == Outcome(S.QUEUED, S.RUNNING)
    fresh = row(job)
    assert fresh.status == S.RUNNING
    assert fresh.version == 2
    assert fresh.worker_host == "host-1"
    assert fresh.started_at is not None
    assert fresh.heartbeat_at == fresh.started_at
    # The caller's instance is refreshed when the transition won.
    assert job.status == S.RUNNING and job.version == 2


def test_start_writes_audit_event():
    job = IngestJobFactory(status=S.QUEUED)

    lifecycle.start(job, worker_host="host-1")

    [event] = events(job)
    assert (event.from_status, event.to_status, event.action) == (S.QUEUED, S.RUNNING, "start")
    assert event.actor is None


@pytest.mark.parametrize("status", [s for s in ALL_STATES if s != S.QUEUED])
def test_start_refuses_job_not_queued(status):
    job = IngestJobFactory(status=status)

    assert_refused(job, lifecycle.start(job, worker_host="host-1"))


# --- complete -------------------------------------------------------------------


def test_complete_moves_running_job_to_completed_with_result():
    job = IngestJobFactory(status=S.RUNNING)

    outcome = lifecycle.complete(job, result={"files": [], "partial": False})

    assert outcome == Outcome(S.RUNNING, S.COMPLETED)
    fresh = row(job)
    assert fresh.status == S.COMPLETED
    assert fresh.result == {"files": [], "partial": False}
    assert fresh.finished_at is not None
    assert fresh.version == 2
    [event] = events(job)
    assert (event.from_status, event.to_status, event.action) == (
        S.RUNNING,
        S.COMPLETED,
        "complete",
    )


def test_complete_of_cancelling_job_ends_cancelled_keeping_result():
    """Cancel wins: a job whose cancel was accepted never ends COMPLETED."""
    job = IngestJobFactory(status=S.CANCELLING)

    outcome = lifecycle.complete(job, result={"files": ["a.txt"], "partial": False})

    assert outcome == Outcome(S.CANCELLING, S.CANCELLED)
    fresh = row(job)
    assert fresh.status == S.CANCELLED
    assert fresh.result == {"files": ["a.txt"], "partial": True}
    assert fresh.finished_at is not None
    assert fresh.deleted_at is None
    [event] = events(job)
    assert (event.from_status, event.to_status, event.action) == (
        S.CANCELLING,
        S.CANCELLED,
        "cancelled",
    )
    assert event.reason == "cancel won over completion"


@pytest.mark.parametrize("status", [S.QUEUED, S.COMPLETED, S.FAILED, S.CANCELLED])
def test_complete_refuses_job_neither_running_nor_cancelling(status):
    job = IngestJobFactory(status=status)

    assert_refused(job, lifecycle.complete(job, result={"files": []}))
    assert row(job).result == {}


# --- fail -----------------------------------------------------------------------


def test_fail_moves_running_job_to_failed_with_error():
    job = IngestJobFactory(status=S.RUNNING)

    outcome = lifecycle.fail(job, error="every file failed", result={"files": []})

    assert outcome == Outcome(S.RUNNING, S.FAILED)
    fresh = row(job)
    assert fresh.status == S.FAILED
    assert fresh.error == "every file failed"
    assert fresh.result == {"files": []}
    assert fresh.finished_at is not None
    [event] = events(job)
    assert (event.from_status, event.to_status, event.action, event.reason) == (
        S.RUNNING,
        S.FAILED,
        "fail",
        "every file failed",
    )


def test_fail_of_cancelling_job_ends_cancelled_keeping_result():
    job = IngestJobFactory(status=S.CANCELLING)

    outcome = lifecycle.fail(job, error="boom", result={"files": ["a.txt"]})

    assert outcome == Outcome(S.CANCELLING, S.CANCELLED)
    fresh = row(job)
    assert fresh.status == S.CANCELLED
    assert fresh.result == {"files": ["a.txt"], "partial": True}
    [event] = events(job)
    assert (event.action, event.reason) == ("cancelled", "boom")


@pytest.mark.parametrize("status", [S.QUEUED, S.COMPLETED, S.FAILED, S.CANCELLED])
def test_fail_refuses_job_neither_running_nor_cancelling(status):
    job = IngestJobFactory(status=status)

    assert_refused(job, lifecycle.fail(job, error="boom", result={}))
    assert row(job).error == ""


# --- finish_cancelled -----------------------------------------------------------


def test_finish_cancelled_moves_cancelling_job_to_cancelled():
    user = UserFactory()
    job = IngestJobFactory(status=S.CANCELLING)

    outcome = lifecycle.finish_cancelled(job, result={"files": []}, reason="stopped", actor=user)

    assert outcome == Outcome(S.CANCELLING, S.CANCELLED)
    fresh = row(job)
    assert fresh.status == S.CANCELLED
    assert fresh.result == {"files": [], "partial": True}
    assert fresh.finished_at is not None
    assert fresh.version == 2
    [event] = events(job)
    assert (event.from_status, event.to_status, event.action, event.actor, event.reason) == (
        S.CANCELLING,
        S.CANCELLED,
        "cancelled",
        user,
        "stopped",
    )


def test_finish_cancelled_without_result_keeps_stored_result():
    job = IngestJobFactory(status=S.CANCELLING, result={"files": ["kept"]})

    assert lifecycle.finish_cancelled(job)

    assert row(job).result == {"files": ["kept"]}


@pytest.mark.parametrize("status", [S.QUEUED, S.RUNNING, S.COMPLETED, S.FAILED, S.CANCELLED])
def test_finish_cancelled_refuses_job_not_cancelling(status):
    job = IngestJobFactory(status=status)

    assert_refused(job, lifecycle.finish_cancelled(job, result={}))


# --- requeue --------------------------------------------------------------------


def test_requeue_puts_running_job_back_in_queue():
    job = IngestJobFactory(status=S.RUNNING, heartbeat_at=timezone.now(), worker_host="host-1")

    outcome = lifecycle.requeue(job, reason="worker shut down")

    assert outcome == Outcome(S.RUNNING, S.QUEUED)
    fresh = row(job)
    assert fresh.status == S.QUEUED
    assert fresh.heartbeat_at is None
    assert fresh.worker_host == ""
    assert fresh.version == 2
    [event] = events(job)
    assert (event.from_status, event.to_status, event.action, event.reason) == (
        S.RUNNING,
        S.QUEUED,
        "requeue",
        "worker shut down",
    )


@pytest.mark.parametrize("status", [s for s in ALL_STATES if s != S.RUNNING])
def test_requeue_refuses_job_not_running(status):
    job = IngestJobFactory(status=status)

    assert_refused(job, lifecycle.requeue(job, reason="worker shut down"))


# --- worker_lost ----------------------------------------------------------------


def stale_heartbeat():
    return timezone.now() - timedelta(minutes=5)


def test_worker_lost_fails_running_job():
    job = IngestJobFactory(status=S.RUNNING, heartbeat_at=stale_heartbeat())

    outcome = lifecycle.worker_lost(job)

    assert outcome == Outcome(S.RUNNING, S.FAILED)
    fresh = row(job)
    assert fresh.status == S.FAILED
    assert "worker lost" in fresh.error
    assert fresh.finished_at is not None
    [event] = events(job)
    assert (event.from_status, event.to_status, event.action) == (
        S.RUNNING,
        S.FAILED,
        "worker_lost",
    )
    assert "worker lost" in event.reason


def test_worker_lost_cancels_cancelling_job():
    job = IngestJobFactory(status=S.CANCELLING, heartbeat_at=stale_heartbeat())

    outcome = lifecycle.worker_lost(job)

    assert outcome == Outcome(S.CANCELLING, S.CANCELLED)
    fresh = row(job)
    assert fresh.status == S.CANCELLED
    assert fresh.error == ""
    [event] = events(job)
    assert (event.action, event.reason) == ("cancelled", "worker lost while cancelling")


@pytest.mark.parametrize("status", [S.RUNNING, S.CANCELLING])
def test_worker_lost_refused_when_heartbeat_moved_since_read(status):
    """The reaper read a stale heartbeat; the worker beat meanwhile: it is alive."""
    job = IngestJobFactory(status=status, heartbeat_at=stale_heartbeat())
    IngestJob.all_objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())

    assert_refused(job, lifecycle.worker_lost(job))


def test_worker_lost_with_no_heartbeat_ever_matches_null():
    job = IngestJobFactory(status=S.RUNNING, heartbeat_at=None)

    assert lifecycle.worker_lost(job) == Outcome(S.RUNNING, S.FAILED)


@pytest.mark.parametrize("status", [S.QUEUED, S.COMPLETED, S.FAILED, S.CANCELLED])
def test_worker_lost_refuses_job_not_running_or_cancelling(status):
    job = IngestJobFactory(status=status, heartbeat_at=stale_heartbeat())

    assert_refused(job, lifecycle.worker_lost(job))


# --- request_cancel -------------------------------------------------------------


def test_cancel_of_queued_job_cancels_it_at_once():
    user = UserFactory()
    job = IngestJobFactory(status=S.QUEUED)

    outcome = lifecycle.request_cancel(job, actor=user, reason="not needed")

    assert outcome == Outcome(S.QUEUED, S.CANCELLED)
    fresh = row(job)
    assert fresh.status == S.CANCELLED
    assert fresh.cancel_requested_at is not None
    assert fresh.cancel_requested_by == user
    assert fresh.finished_at == fresh.cancel_requested_at
    assert fresh.version == 2
    [event] = events(job)
    assert (event.from_status, event.to_status, event.action, event.actor, event.reason) == (
        S.QUEUED,
        S.CANCELLED,
        "cancel",
        user,
        "not needed",
    )


def test_cancel_of_running_job_asks_the_worker_to_stop():
    user = UserFactory()
    job = IngestJobFactory(status=S.RUNNING)

    outcome = lifecycle.request_cancel(job, actor=user, reason="wrong files")

    assert outcome == Outcome(S.RUNNING, S.CANCELLING)
    fresh = row(job)
    assert fresh.status == S.CANCELLING
    assert fresh.cancel_requested_at is not None
    assert fresh.cancel_requested_by == user
    assert fresh.finished_at is None
    assert fresh.version == 2
    [event] = events(job)
    assert (event.from_status, event.to_status, event.action, event.actor, event.reason) == (
        S.RUNNING,
        S.CANCELLING,
        "cancel",
        user,
        "wrong files",
    )


def test_cancel_of_cancelling_job_is_idempotent_without_second_event():
    user = UserFactory()
    job = IngestJobFactory(status=S.RUNNING)
    lifecycle.request_cancel(job, actor=user)
    first = row(job)

    outcome = lifecycle.request_cancel(job, actor=UserFactory(), reason="again")

    assert outcome
    assert outcome == Outcome(S.CANCELLING, S.CANCELLING)
    second = row(job)
    assert second.status == S.CANCELLING
    assert second.version == first.version
    assert second.cancel_requested_at == first.cancel_requested_at
    assert second.cancel_requested_by == user
    assert len(events(job)) == 1


def test_cancel_without_authenticated_actor_records_no_actor():
    job = IngestJobFactory(status=S.RUNNING)

    lifecycle.request_cancel(job, actor=object(), reason="by the system")

    assert row(job).cancel_requested_by is None
    assert events(job)[0].actor is None


@pytest.mark.parametrize("status", [S.COMPLETED, S.FAILED, S.CANCELLED])
def test_cancel_rejects_finished_job_naming_its_state(status):
    job = IngestJobFactory(status=status)

    with pytest.raises(InvalidTransition) as info:
        lifecycle.request_cancel(job, actor=UserFactory())

    assert status.value in info.value.message
    assert status.value in str(info.value)
    assert info.value.action == "cancel"
    assert info.value.job.pk == job.pk
    fresh = row(job)
    assert (fresh.status, fresh.version, fresh.cancel_requested_at) == (status, 1, None)
    assert events(job) == []


# --- soft_delete ----------------------------------------------------------------


@pytest.mark.parametrize("status", [S.COMPLETED, S.FAILED, S.CANCELLED])
def test_soft_delete_of_finished_job_cancels_and_hides_it(status):
    user = UserFactory()
    job = IngestJobFactory(status=status)

    outcome = lifecycle.soft_delete(job, actor=user, reason="clean up")

    assert outcome == Outcome(status, S.CANCELLED)
    fresh = row(job)
    assert fresh.status == S.CANCELLED
    assert fresh.deleted_at is not None
    assert fresh.version == 2
    assert not IngestJob.objects.filter(pk=job.pk).exists()
    [event] = events(job)
    assert (event.from_status, event.to_status, event.action, event.actor, event.reason) == (
        status,
        S.CANCELLED,
        "delete",
        user,
        "clean up",
    )


def test_soft_delete_twice_second_call_loses():
    job = IngestJobFactory(status=S.COMPLETED)
    assert lifecycle.soft_delete(job)
    deleted = row(job)

    outcome = lifecycle.soft_delete(job)

    assert not outcome
    again = row(job)
    assert (again.deleted_at, again.version) == (deleted.deleted_at, deleted.version)
    assert len(events(job)) == 1


@pytest.mark.parametrize("status", [S.QUEUED, S.RUNNING, S.CANCELLING])
def test_soft_delete_refuses_active_job(status):
    job = IngestJobFactory(status=status)

    assert_refused(job, lifecycle.soft_delete(job))
    assert row(job).deleted_at is None


# --- request_delete (DELETE ?force=true) -----------------------------------------


def test_force_delete_of_queued_job_cancels_and_deletes_it():
    user = UserFactory()
    job = IngestJobFactory(status=S.QUEUED)

    outcome = lifecycle.request_delete(job, actor=user)

    assert outcome == Outcome(S.QUEUED, S.CANCELLED)
    fresh = row(job)
    assert fresh.status == S.CANCELLED
    assert fresh.deleted_at is not None
    assert fresh.delete_requested_at is not None
    assert [(e.from_status, e.to_status, e.action) for e in events(job)] == [
        (S.QUEUED, S.CANCELLED, "cancel"),
        (S.CANCELLED, S.CANCELLED, "delete"),
    ]
    assert all(e.actor == user for e in events(job))


def test_force_delete_of_running_job_deletes_it_once_cancelled():
    job = IngestJobFactory(status=S.RUNNING)

    outcome = lifecycle.request_delete(job, actor=UserFactory())

    assert outcome == Outcome(S.RUNNING, S.CANCELLING)
    cancelling = row(job)
    assert cancelling.status == S.CANCELLING
    assert cancelling.delete_requested_at is not None
    assert cancelling.cancel_requested_at is not None
    assert cancelling.deleted_at is None
    assert IngestJob.objects.filter(pk=job.pk).exists()

    # The worker notices the cancel and finalizes: the job is then deleted.
    worker_copy = row(job)
    assert lifecycle.finish_cancelled(worker_copy, result={"files": []})

    fresh = row(job)
    assert fresh.status == S.CANCELLED
    assert fresh.deleted_at is not None
    assert fresh.result == {"files": [], "partial": True}
    assert not IngestJob.objects.filter(pk=job.pk).exists()
    assert [(e.from_status, e.to_status, e.action) for e in events(job)] == [
        (S.RUNNING, S.CANCELLING, "cancel"),
        (S.CANCELLING, S.CANCELLED, "cancelled"),
        (S.CANCELLED, S.CANCELLED, "delete"),
    ]


def test_worker_finishing_force_deleted_job_as_completed_still_ends_deleted():
    job = IngestJobFactory(status=S.RUNNING)
    lifecycle.request_delete(job)

    outcome = lifecycle.complete(row(job), result={"files": []})

    assert outcome == Outcome(S.CANCELLING, S.CANCELLED)
    fresh = row(job)
    assert fresh.status == S.CANCELLED
    assert fresh.deleted_at is not None


@pytest.mark.parametrize("status", [S.COMPLETED, S.FAILED, S.CANCELLED])
def test_force_delete_of_finished_job_just_soft_deletes_it(status):
    job = IngestJobFactory(status=status)

    outcome = lifecycle.request_delete(job)

    assert outcome == Outcome(status, S.CANCELLED)
    fresh = row(job)
    assert fresh.deleted_at is not None
    assert [(e.from_status, e.action) for e in events(job)] == [(status, "delete")]


def test_finish_cancelled_without_delete_request_does_not_delete():
    job = IngestJobFactory(status=S.RUNNING)
    lifecycle.request_cancel(job)

    lifecycle.finish_cancelled(row(job), result={})

    assert row(job).deleted_at is None


# --- versions and the audit chain -------------------------------------------------


def test_every_transition_bumps_version_once():
    job = IngestJobFactory(status=S.QUEUED)

    lifecycle.start(job, worker_host="h")
    lifecycle.request_cancel(job)
    lifecycle.finish_cancelled(job, result={})
    lifecycle.soft_delete(job)

    assert row(job).version == 5
    assert [e.action for e in events(job)] == ["start", "cancel", "cancelled", "delete"]


def test_record_created_starts_the_audit_chain():
    user = UserFactory()
    job = IngestJobFactory(status=S.QUEUED)

    lifecycle.record_created(job, actor=user)

    [event] = events(job)
    assert (event.from_status, event.to_status, event.action, event.actor) == (
        "",
        S.QUEUED,
        "create",
        user,
    )


def test_transition_and_its_event_commit_or_roll_back_together():
    """An audit event that cannot be written undoes the transition it records."""
    job = IngestJobFactory(status=S.COMPLETED)
    unsaved_actor = UserFactory.build()

    with pytest.raises(ValueError):
        lifecycle.soft_delete(job, actor=unsaved_actor)

    fresh = row(job)
    assert (fresh.status, fresh.deleted_at, fresh.version) == (S.COMPLETED, None, 1)
    assert events(job) == []


def test_force_delete_of_a_cancelling_job_gives_it_a_new_version():
    job = IngestJobFactory(status=S.CANCELLING)
    before = row(job).version

    outcome = lifecycle.request_delete(job)

    assert outcome == Outcome(S.CANCELLING, S.CANCELLING)
    assert row(job).version == before + 1
    assert row(job).delete_requested_at is not None


@pytest.mark.parametrize("status", [S.QUEUED, S.RUNNING])
def test_cancel_guarded_by_a_stale_version_changes_nothing(status):
    job = IngestJobFactory(status=status)
    read_at = row(job).version
    IngestJob.all_objects.filter(pk=job.pk).update(version=read_at + 1)  # changed meanwhile

    with pytest.raises(lifecycle.VersionMismatch):
        lifecycle.request_cancel(job, version=read_at)

    assert row(job).status == status
    assert list(events(job)) == []
    assert lifecycle.request_cancel(job, version=read_at + 1)


def test_delete_guarded_by_a_stale_version_changes_nothing():
    job = IngestJobFactory(status=S.COMPLETED)
    IngestJob.all_objects.filter(pk=job.pk).update(version=5)

    with pytest.raises(lifecycle.VersionMismatch):
        lifecycle.soft_delete(job, version=4)
    with pytest.raises(lifecycle.VersionMismatch):
        lifecycle.request_delete(row(job), version=4)

    assert row(job).deleted_at is None
    assert lifecycle.soft_delete(job, version=5)
    # Already deleted: the delete lost to another one, not to a stale version.
    assert not lifecycle.soft_delete(job, version=5)


# --- progress at the end ------------------------------------------------------


def test_a_job_ended_without_its_worker_shows_the_files_really_done(db):
    # The horse was killed after its second file committed and before it
    # wrote the progress: the job said one file done, its files say two.
    job = IngestJobFactory(status=S.RUNNING, items_total=3, items_done=1, bytes_done=5)
    sizes = []
    for position, status in enumerate([FileStatus.DONE, FileStatus.FAILED, FileStatus.PENDING]):
        sizes.append(IngestFileFactory(job=job, position=position, status=status).size)

    assert lifecycle.worker_lost(job)

    job = row(job)
    assert job.status == S.FAILED
    assert (job.items_done, job.bytes_done) == (2, sizes[0] + sizes[1])


def test_a_job_cancelled_before_it_started_shows_nothing_done(db):
    job = IngestJobFactory(status=S.QUEUED, items_total=1)
    IngestFileFactory(job=job, position=0)

    lifecycle.request_cancel(job)

    assert (row(job).items_done, row(job).bytes_done) == (0, 0)
