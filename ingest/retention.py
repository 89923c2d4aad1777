"""When a soft-deleted job is purged for good (AIP-164's purge time).

``INGEST_PURGE_AFTER_DAYS`` after its deletion the reaper purges it; an empty
setting turns the automatic purge off, and then no job has a purge time.
"""

from datetime import datetime, timedelta

from django.conf import settings

from jobs.models import Job


def purge_after() -> timedelta | None:
    """How long a deleted job is kept; None when nothing is purged automatically."""
    days = settings.INGEST_PURGE_AFTER_DAYS
    return None if days is None else timedelta(days=days)


def purge_at(job: Job) -> datetime | None:
    """When the reaper purges this job: None while it is not deleted, or with no purge."""
    if job.deleted_at is None:  # most jobs: the setting is not read
        return None
    age = purge_after()
    return None if age is None else job.deleted_at + age
