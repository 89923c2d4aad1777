"""A user's writes to a job's state: cancel and delete, from the API, the
dashboard, admin, the commands and the agents' tools alike.

A job is created by ``intake``, retried by ``retry`` and cleaned up or purged
by ``cleanup``; ``queue`` is only the RQ client.
"""

from django.db import transaction

from ingest.models import IngestJob
from ingest.services.queue import remove_from_queue
from jobs import lifecycle
from jobs.models import JobStatus


def job_cancel(
    *, job: IngestJob, actor=None, reason: str = "", version: int | None = None
) -> lifecycle.Outcome:
    """Cancel a job: a queued one is CANCELLED at once and leaves the queue; a
    running one becomes CANCELLING and its worker stops at the next checkpoint.
    Idempotent for a job already cancelling; a finished job raises
    ``lifecycle.InvalidTransition``. With ``version`` (an If-Match), a job
    changed since then raises ``lifecycle.VersionMismatch`` and is left alone."""
    outcome = lifecycle.request_cancel(job, actor=actor, reason=reason, version=version)
    if outcome.from_status == JobStatus.QUEUED:
        transaction.on_commit(lambda: remove_from_queue(job_id=str(job.pk)))
    return outcome


def job_delete(
    *,
    job: IngestJob,
    actor=None,
    force: bool = False,
    reason: str = "",
    version: int | None = None,
) -> lifecycle.Outcome:
    """Soft-delete a finished job (status CANCELLED, ``deleted_at`` set, audited).

    An active job raises ``lifecycle.InvalidTransition`` unless ``force``: then
    it is cancelled now and soft-deleted as soon as it is CANCELLED. A job
    deleted meanwhile by someone else gives a falsy outcome; ``version`` is as
    for :func:`job_cancel`.
    """
    if job.is_terminal:
        return lifecycle.soft_delete(job, actor=actor, reason=reason, version=version)
    if not force:
        raise lifecycle.InvalidTransition(
            job, "delete", f"job is {job.status}: cancel the job first, or repeat with ?force=true."
        )
    outcome = lifecycle.request_delete(job, actor=actor, reason=reason, version=version)
    if outcome.from_status == JobStatus.QUEUED:
        transaction.on_commit(lambda: remove_from_queue(job_id=str(job.pk)))
    return outcome
