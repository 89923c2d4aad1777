"""How a job changes state: the guarded UPDATE, its audit event and its live
event, which every transition of ``jobs.lifecycle`` is made of.

Each transition is a guarded conditional UPDATE (``... WHERE status = <from>``)
whose row count says whether it won, plus an audit event written in the same
transaction. Nothing else in the code base assigns ``status``.

A transition allowed from several states tries each in turn, one guarded
UPDATE per state, instead of reading the row first: the state that matched is
then known exactly for the audit event, without a lock and without a window
between the read and the write.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F

from jobs import events, writes
from jobs.models import TERMINAL_STATUSES, Job, JobEvent

# Named as the lifecycle, whose transitions these are (what the logs filter on).
logger = logging.getLogger("jobs.lifecycle")


class InvalidTransition(Exception):
    """The job is not in a state that allows the requested change."""

    def __init__(self, job: Job, action: str, message: str):
        super().__init__(message)
        self.job = job
        self.action = action
        self.message = message


class VersionMismatch(Exception):
    """The job changed since the caller read it (an If-Match that no longer holds)."""

    def __init__(self, job: Job):
        super().__init__(f"job {job.pk} is at version {job.version}")
        self.job = job


@dataclass(frozen=True)
class Outcome:
    """What a transition did: which state it left (None if it lost) and entered."""

    from_status: str | None
    to_status: str | None

    def __bool__(self):
        return self.from_status is not None


LOST = Outcome(None, None)


def transition(
    job: Job,
    *,
    action: str,
    from_statuses: Iterable[str],
    to_status: str,
    actor=None,
    reason: str = "",
    using: str = "default",
    extra_filter: dict | None = None,
    **fields,
) -> Outcome:
    """Move ``job`` to ``to_status`` if it is in one of ``from_statuses``.

    Returns the :class:`Outcome`; falsy when another writer got there first.
    ``job`` is refreshed from the database when the transition won.
    """
    model = type(job)
    from_statuses = read_status_first(job, from_statuses)
    if to_status in TERMINAL_STATUSES and not TERMINAL_STATUSES.issuperset(from_statuses):
        # In the same UPDATE, so no write of the work can slip in between. (A
        # job already finished, being deleted, had its progress settled then.)
        fields = {**job.settled_progress(), **fields}
    rows = model.all_objects.using(using).filter(pk=job.pk, **(extra_filter or {}))
    values = {"status": to_status, "version": F("version") + 1, **fields}
    for from_status in from_statuses:
        event = _event(job, from_status, to_status, action, actor, reason, using)
        if _moved(job, rows.filter(status=from_status), values, event):
            break
    else:
        return LOST
    _publish_on_commit(job, from_status, to_status, action, using)
    logger.info("job %s %s: %s -> %s", job.pk, action, from_status, to_status)
    return Outcome(from_status, to_status)


def _moved(job: Job, rows, values: dict, event: JobEvent) -> bool:
    """UPDATE the job's row if ``rows`` still finds it, refresh ``job`` and
    write ``event``, all or nothing. Whether it found the row.

    On PostgreSQL that is one statement (``jobs.writes``) instead of the
    ORM's five round trips (BEGIN, UPDATE, SELECT, INSERT, COMMIT): the API's
    DELETE of a finished job makes 3 queries instead of 7 (test_queries;
    bench.internals measures it, "writes").
    """
    if writes.supported(rows.db):
        found = writes.update_and_insert(rows, values, event)
        if found is None:
            return False
        writes.refresh_with(job, found)
        return True
    with transaction.atomic(using=rows.db):
        if not rows.update(**values):
            return False
        job.refresh_from_db(using=rows.db)
        event.save(using=rows.db, force_insert=True)
    return True


def read_status_first(job: Job, statuses: Iterable[str]) -> list[str]:
    """``statuses`` with the one ``job`` was read in first: it is the one a
    transition usually finds, and every miss is an UPDATE of its own."""
    return sorted(statuses, key=lambda status: status != job.status)


def _event(job, from_status, to_status, action, actor, reason, using, extra=None) -> JobEvent:
    """The audit event of a change of ``job``, not yet saved. Its
    ``audit_fields`` name the job, which a transition does not change, so
    they are read before the change is written."""
    return JobEvent(
        content_type=ContentType.objects.db_manager(using).get_for_model(type(job)),
        job_id=job.pk,
        from_status=from_status,
        to_status=to_status,
        action=action,
        actor=actor if is_user(actor) else None,
        reason=reason,
        extra=extra or {},
        **job.audit_fields(),
    )


def _record(job, from_status, to_status, action, actor, reason, using, extra=None):
    """Write the audit event of a job's creation or of an action that changes no status."""
    _event(job, from_status, to_status, action, actor, reason, using, extra).save(
        using=using, force_insert=True
    )
    _publish_on_commit(job, from_status, to_status, action, using)


def _publish_on_commit(job, from_status, to_status, action, using):
    """The live event of a change, once it is committed (at once outside a transaction)."""
    transaction.on_commit(
        lambda: events.publish_transition(job, from_status, to_status, action), using=using
    )


def record_created(job: Job, *, actor=None, reason: str = "", using: str = "default") -> None:
    """The first link of a job's audit chain: created, QUEUED."""
    with transaction.atomic(using=using):
        _record(job, "", job.status, "create", actor, reason, using)


def record_action(
    job: Job,
    *,
    action: str,
    actor=None,
    reason: str = "",
    extra: dict | None = None,
    using: str = "default",
) -> None:
    """Audit an action that changes no status (a cleanup): from and to are the
    current one. What it counted goes in ``extra``, not in the reason's prose."""
    with transaction.atomic(using=using):
        _record(job, job.status, job.status, action, actor, reason, using, extra)


def events_for(job: Job):
    ct = ContentType.objects.get_for_model(type(job))
    return JobEvent.objects.filter(content_type=ct, job_id=job.pk).select_related("actor")


def is_user(actor) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)
