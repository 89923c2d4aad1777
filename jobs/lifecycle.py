"""The state machine. Every status change of every job happens here, one
function per transition, each made of ``jobs.transitions.transition``: a
guarded conditional UPDATE (``... WHERE status = <from>``) whose row count
says whether it won, plus an audit event written in the same transaction.
Nothing else in the code base assigns ``status``.
"""

from django.db.models import F
from django.utils import timezone

from jobs.models import TERMINAL_STATUSES, Job
from jobs.models import JobStatus as S
from jobs.transitions import (
    LOST,
    InvalidTransition,
    Outcome,
    VersionMismatch,
    events_for,
    is_user,
    read_status_first,
    record_action,
    record_created,
    transition,
)

__all__ = [
    "LOST",
    "InvalidTransition",
    "Outcome",
    "VersionMismatch",
    "complete",
    "events_for",
    "fail",
    "finish_cancelled",
    "read_status_first",
    "record_action",
    "record_created",
    "request_cancel",
    "request_delete",
    "requeue",
    "restore",
    "soft_delete",
    "start",
    "transition",
    "worker_lost",
]


# --- worker side -------------------------------------------------------------


def start(job: Job, *, worker_host: str, using: str = "default") -> Outcome:
    now = timezone.now()
    return transition(
        job,
        action="start",
        from_statuses=[S.QUEUED],
        to_status=S.RUNNING,
        using=using,
        started_at=now,
        heartbeat_at=now,
        worker_host=worker_host,
    )


def complete(job: Job, *, result: dict, using: str = "default") -> Outcome:
    """RUNNING -> COMPLETED; if a cancel won the race, CANCELLING -> CANCELLED instead."""
    won = transition(
        job,
        action="complete",
        from_statuses=[S.RUNNING],
        to_status=S.COMPLETED,
        using=using,
        finished_at=timezone.now(),
        result=result,
    )
    return won or finish_cancelled(
        job, result=result, reason="cancel won over completion", using=using
    )


def fail(job: Job, *, error: str, result: dict, using: str = "default") -> Outcome:
    """RUNNING -> FAILED; a job whose cancel was accepted ends CANCELLED instead."""
    won = transition(
        job,
        action="fail",
        from_statuses=[S.RUNNING],
        to_status=S.FAILED,
        reason=error,
        using=using,
        finished_at=timezone.now(),
        error=error,
        result=result,
    )
    return won or finish_cancelled(job, result=result, reason=error, using=using)


def finish_cancelled(
    job: Job,
    *,
    result: dict | None = None,
    reason: str = "",
    actor=None,
    using: str = "default",
    extra_filter: dict | None = None,
) -> Outcome:
    """CANCELLING -> CANCELLED, keeping what was finished (``result``).

    A job whose deletion was requested with ``?force=true`` is soft-deleted
    right after, in its own audited transition.
    """
    fields = {"finished_at": timezone.now()}
    if result is not None:
        fields["result"] = {**result, "partial": True}
    outcome = transition(
        job,
        action="cancelled",
        from_statuses=[S.CANCELLING],
        to_status=S.CANCELLED,
        actor=actor,
        reason=reason,
        using=using,
        extra_filter=extra_filter,
        **fields,
    )
    if outcome and job.delete_requested_at:
        soft_delete(job, reason="deleted once cancelled (force)", using=using)
    return outcome


def requeue(job: Job, *, reason: str, using: str = "default") -> Outcome:
    """RUNNING -> QUEUED: the worker is shutting down; the next one resumes."""
    return transition(
        job,
        action="requeue",
        from_statuses=[S.RUNNING],
        to_status=S.QUEUED,
        reason=reason,
        using=using,
        heartbeat_at=None,
        worker_host="",
    )


def worker_lost(job: Job, *, using: str = "default") -> Outcome:
    """A job whose worker stopped beating: RUNNING -> FAILED, CANCELLING -> CANCELLED."""
    reason = "worker lost: no heartbeat from its worker; run the job again"
    stale = {"heartbeat_at": job.heartbeat_at}
    won = transition(
        job,
        action="worker_lost",
        from_statuses=[S.RUNNING],
        to_status=S.FAILED,
        reason=reason,
        using=using,
        extra_filter=stale,
        finished_at=timezone.now(),
        error=reason,
    )
    return won or finish_cancelled(
        job, reason="worker lost while cancelling", using=using, extra_filter=stale
    )


# --- user side ---------------------------------------------------------------


def request_cancel(
    job: Job, *, actor=None, reason: str = "", using: str = "default", version: int | None = None
) -> Outcome:
    """Cancel: QUEUED -> CANCELLED at once, RUNNING -> CANCELLING for the worker to see.

    A job already CANCELLING is left as it is and reported as such (idempotent,
    no second audit event). A finished job raises :class:`InvalidTransition`.
    With ``version`` (an If-Match), the UPDATE also requires it, so a change
    between the caller's read and this write raises :class:`VersionMismatch`.
    """
    now = timezone.now()
    asked = {"cancel_requested_at": now, "cancel_requested_by": actor if is_user(actor) else None}
    ways = {  # from -> (to, what the UPDATE writes besides)
        S.QUEUED: (S.CANCELLED, {**asked, "finished_at": now}),
        S.RUNNING: (S.CANCELLING, asked),
    }
    guard = _version_filter(version)
    for from_status in read_status_first(job, ways):
        to_status, fields = ways[from_status]
        won = transition(
            job,
            action="cancel",
            from_statuses=[from_status],
            to_status=to_status,
            actor=actor,
            reason=reason,
            using=using,
            extra_filter=guard,
            **fields,
        )
        if won:
            return Outcome(from_status, to_status)
    job.refresh_from_db(using=using)
    _check_version(job, version)
    if job.status == S.CANCELLING:
        return Outcome(S.CANCELLING, S.CANCELLING)
    if job.status == S.QUEUED:  # requeued by a shutting-down worker meanwhile
        return request_cancel(job, actor=actor, reason=reason, using=using)
    raise InvalidTransition(job, "cancel", f"job already {job.status}; nothing to cancel.")


def soft_delete(
    job: Job, *, actor=None, reason: str = "", using: str = "default", version: int | None = None
) -> Outcome:
    """A finished job -> CANCELLED and deleted, in one statement. Falsy if it
    lost to another delete; :class:`VersionMismatch` if it lost to a change
    since ``version`` (an If-Match) was read."""
    outcome = transition(
        job,
        action="delete",
        from_statuses=sorted(TERMINAL_STATUSES),
        to_status=S.CANCELLED,
        actor=actor,
        reason=reason,
        using=using,
        extra_filter={"deleted_at__isnull": True, **(_version_filter(version) or {})},
        deleted_at=timezone.now(),
        # The old value: an UPDATE's expressions read the row as it was.
        status_before_delete=F("status"),
    )
    if not outcome and version is not None:
        job.refresh_from_db(using=using)
        if job.deleted_at is None:
            _check_version(job, version)
    return outcome


def request_delete(
    job: Job, *, actor=None, reason: str = "", using: str = "default", version: int | None = None
) -> Outcome:
    """DELETE ?force=true on an active job: cancel it now, soft-delete it once CANCELLED.

    ``delete_requested_at`` is written before the cancel so that whoever
    finalizes the cancel (the worker, the reaper, or this call for a QUEUED
    job) sees it and soft-deletes. A job that finished meanwhile is simply
    soft-deleted. Returns the outcome of the cancel (or of the delete).
    """
    rows = type(job).all_objects.using(using).filter(pk=job.pk, deleted_at__isnull=True)
    # A change of what will happen to the job: a new version, so an ETag read
    # before it no longer matches.
    stamped = rows.filter(delete_requested_at__isnull=True, **(_version_filter(version) or {}))
    stamped = stamped.update(delete_requested_at=timezone.now(), version=F("version") + 1)
    job.refresh_from_db(using=using)
    if not stamped:
        _check_version(job, version)
    try:
        outcome = request_cancel(job, actor=actor, reason=reason or "deleted (force)", using=using)
    except InvalidTransition:
        return soft_delete(job, actor=actor, reason=reason, using=using)
    if outcome.to_status == S.CANCELLED:
        soft_delete(job, actor=actor, reason="deleted once cancelled (force)", using=using)
    return outcome


def restore(
    job: Job, *, to_status: str, actor=None, reason: str = "", using: str = "default"
) -> Outcome:
    """Undelete a soft-deleted job, back to ``to_status`` (the finished state it
    had before deletion, read from its audit trail by the caller). Falsy if the
    job is not deleted (any more)."""
    if to_status not in TERMINAL_STATUSES:
        raise ValueError(f"a deleted job was finished; {to_status!r} is not a finished state")
    return transition(
        job,
        action="restore",
        from_statuses=[S.CANCELLED],
        to_status=to_status,
        actor=actor,
        reason=reason,
        using=using,
        extra_filter={"deleted_at__isnull": False},
        deleted_at=None,
        delete_requested_at=None,
        status_before_delete="",
    )


def _version_filter(version: int | None) -> dict | None:
    return None if version is None else {"version": version}


def _check_version(job: Job, version: int | None) -> None:
    if version is not None and job.version != version:
        raise VersionMismatch(job)
