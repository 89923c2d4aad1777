"""Which actions a job allows now: one rule, read by the API's representation
(``actions``), the dashboard's buttons, the commands and the agents' tools,
so that nothing offers what the services would refuse.

- ``cancel``: a queued or running job (a cancelling one is already stopping);
- ``retry``: a finished job with files not done (failed, or not reached),
  whose uploads are still stored (no cleanup since), and that no job retries
  yet: only the newest job of a chain of retries is retried
  (``ingest.services.retry`` refuses the same cases);
- ``cleanup`` and ``delete``: a finished job. An active job can still be
  deleted with ``DELETE ?force=true``, which cancels it first.

A deleted job allows none. What a caller's role allows is the caller's
business: a viewer reads that a job could be retried, and is refused.

Everything is read from the job's row (its counters, ``uploads_removed_at``)
and whether a job retries it: ``retried``, which the list and detail queries
annotate (``selectors``), else one query.
"""

from ingest.models import IngestJob
from jobs.models import JobStatus

CANCEL, RETRY, CLEANUP, DELETE = "cancel", "retry", "cleanup", "delete"
ACTIONS = (CANCEL, RETRY, CLEANUP, DELETE)

# The columns job_actions reads, for a list query that loads only some.
READS = (
    "status",
    "deleted_at",
    "items_total",
    "items_done",
    "items_failed",
    "uploads_removed_at",
    "chain",
)


def job_actions(job) -> list[str]:
    """The actions ``job`` allows now, in the order above."""
    if job.deleted_at is not None:
        return []
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return [CANCEL]
    if not job.is_terminal:
        return []
    return [RETRY, CLEANUP, DELETE] if can_retry(job) else [CLEANUP, DELETE]


def can_retry(job) -> bool:
    return (
        job.is_terminal
        and job.deleted_at is None
        and job.uploads_removed_at is None
        and files_to_retry(job) > 0
        and not is_retried(job)
    )


def files_to_retry(job) -> int:
    """Files not done (nor duplicates): the failed ones and those not reached."""
    return job.items_total - job.items_done + job.items_failed


def is_retried(job) -> bool:
    """Whether a live job retries this one, or a retry of it (a deleted retry
    in between does not end a chain: ``services.retry.latest_attempt``)."""
    retried = getattr(job, "retried", None)
    if retried is not None:
        return retried
    return job.chain is not None and later_attempts(job.chain, job.created_at).exists()


def later_attempts(chain, created_at):
    """The live jobs of a chain of retries made after ``created_at``: values
    for one job, or ``OuterRef``s for each row of a list. The live jobs of a
    chain are one line, so for a live job these retry it, or a retry of it."""
    return IngestJob.objects.filter(chain=chain, created_at__gt=created_at)
