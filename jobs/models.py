"""The generic job: status, timestamps, progress, cancellation and soft delete.

Nothing here knows what a job does. A concrete job type (``ingest.IngestJob``)
subclasses :class:`Job` and gives ``jobs/`` what it needs through the hooks
declared at the end of it; every status change goes through ``jobs.lifecycle``.
"""

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models, router
from django.template.defaultfilters import filesizeformat
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    CANCELLING = "cancelling", "Cancelling"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING})
TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobQuerySet(models.QuerySet):
    def alive(self):
        return self.filter(deleted_at__isnull=True)

    def deleted(self):
        return self.filter(deleted_at__isnull=False)

    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def terminal(self):
        return self.filter(status__in=TERMINAL_STATUSES)

    def delete(self):
        """Soft-delete the finished jobs of this queryset, one audited transition each.

        A hard delete is a purge, and only ``purge()`` does it. Active jobs are
        left alone: they must be cancelled first.
        """
        soft_delete = self.model.soft_delete_transition
        count = 0
        for job in self.alive().terminal():
            # An Outcome is truthy when it won; one that lost (deleted or
            # restarted meanwhile) is not counted.
            if soft_delete(job, reason="deleted in bulk", using=self.db):
                count += 1
        return count, {self.model._meta.label: count}

    delete.queryset_only = True

    def purge(self):
        """Remove rows for good (explicit purge of soft-deleted jobs)."""
        return models.QuerySet.delete(self)


class AliveManager(models.Manager.from_queryset(JobQuerySet)):
    """The default manager: deleted jobs do not exist for the product."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


AllJobsManager = models.Manager.from_queryset(JobQuerySet)


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, editable=False
    )
    # Bumped by every transition: a cheap ETag and the If-Match guard.
    version = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancel_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set by DELETE ?force=true on an active job: soft-delete once it is CANCELLED.
    delete_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A delete sets CANCELLED (the product's rule); this keeps what the job
    # was before it, so a finished job deleted is not taken for a cancelled one.
    status_before_delete = models.CharField(
        max_length=16, choices=JobStatus.choices, blank=True, editable=False
    )
    worker_host = models.CharField(max_length=255, blank=True, editable=False)
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)  # finished: well or not
    items_failed = models.PositiveIntegerField(default=0)  # of those done, the failed
    bytes_total = models.PositiveBigIntegerField(default=0)
    bytes_done = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)

    objects = AliveManager()
    all_objects = AllJobsManager()

    # The state machine's soft delete (``jobs.lifecycle.soft_delete``), which
    # both delete() methods go through. Set by ``JobsConfig.ready()``: the
    # lifecycle imports these models, which therefore cannot import it back
    # without an import cycle.
    soft_delete_transition: ClassVar[Callable[..., Any]]

    class Meta:
        abstract = True
        base_manager_name = "all_objects"
        default_manager_name = "objects"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self._meta.verbose_name} {self.pk} ({self.status})"

    def delete(self, using=None, keep_parents=False):
        """Soft-delete this job if it is finished, as ``QuerySet.delete()`` does.

        Django's own ``Model.delete()`` would remove the row and its files and
        audit trail; a hard delete is only ever an explicit ``purge()``.
        """
        using = using or router.db_for_write(type(self), instance=self)
        won = self.soft_delete_transition(self, reason="deleted", using=using)
        count = 1 if won else 0
        return count, {self._meta.label: count}

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def events(self):
        """The job's audit trail, oldest first.

        A plain query, not a ``GenericRelation``: Django deletes the objects of
        a generic relation with their owner, and the trail must outlive a
        purge of the job's row.
        """
        db = self._state.db or "default"
        content_type = ContentType.objects.db_manager(db).get_for_model(type(self))
        return JobEvent.objects.using(db).filter(content_type=content_type, job_id=self.pk)

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def percent(self) -> int:
        if self.bytes_total:
            return min(100, self.bytes_done * 100 // self.bytes_total)
        if self.items_total:
            return min(100, self.items_done * 100 // self.items_total)
        return 100 if self.status == JobStatus.COMPLETED else 0

    # --- what a concrete job type gives jobs/ ---------------------------------
    # The runner, the reaper, the lifecycle and the live events use these and
    # nothing of a concrete job beyond them: jobs/ knows no job type.

    def build_result(self) -> dict:
        """The job's result, built from its own records of its work (not from
        a worker's memory): the runner and the reaper store it in ``result``
        when they end the job. A concrete job type must say what it is."""
        raise NotImplementedError(f"{type(self).__name__} must define build_result()")

    def log_fields(self) -> dict:
        """What every log line of this job's work carries (see ``jobs.logs``).
        Extend it with what identifies the job's owner."""
        return {"job": self.pk}

    @property
    def event_channel(self) -> str:
        """The Redis pub/sub channel of this job's live events (``jobs.events``).
        By default one channel per job type; override it to route events to
        those who watch them (a project's page, for instance)."""
        return f"jobs:{self._meta.label_lower}"

    def audit_fields(self) -> dict:
        """What every audit event of this job records about it, so that the
        trail still names the job once a purge removed its row."""
        return {"job_name": str(self)[:200], "job_scope": ""}

    def settled_progress(self) -> dict:
        """Progress counters as the job's own records of its work say, as
        expressions for the UPDATE that finishes the job (``OuterRef("pk")``
        is the job). A job that ends without its worker (the reaper, a horse
        killed between a file and its progress write) then shows what was
        really done, not the last figure reported. None by default."""
        return {}


class JobEvent(models.Model):
    """One audited transition of any job (from, to, actor, reason, extra, at)."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    job_id = models.UUIDField()
    job = GenericForeignKey("content_type", "job_id")
    # Copied from the job with each event: what the trail still says of a
    # job whose row was purged.
    job_name = models.CharField(max_length=200, blank=True)
    job_scope = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="what the job belongs to (an ingest job: its project's id)",
    )
    from_status = models.CharField(max_length=16, choices=JobStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=JobStatus.choices)
    action = models.CharField(max_length=32)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    # What the action found or did, as data rather than prose (a cleanup's
    # counts): read by programs as it is, shown to people by ``summary``.
    extra = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["content_type", "job_id", "at"])]

    def __str__(self):
        return f"{self.action}: {self.from_status} -> {self.to_status}"

    @property
    def summary(self) -> str:
        """The event's why for people: its reason, then its ``extra``, e.g.
        ``bytes freed: 400, files removed: 2``."""
        # Sorted: PostgreSQL's jsonb keeps keys in an order of its own.
        extra = sorted(self.extra.items())
        counts = ", ".join(self._count_text(key, value) for key, value in extra)
        return "; ".join(part for part in (self.reason, counts) if part)

    @staticmethod
    def _count_text(key: str, value) -> str:
        """``files_removed: 2`` as ``files removed: 2``; a size (``bytes_freed``)
        as people read one, ``155.9 MB freed``, not ``163459656``."""
        if key.startswith("bytes_") and isinstance(value, int):
            size = filesizeformat(value).replace("\xa0", " ")
            return f"{size} {key.removeprefix('bytes_').replace('_', ' ')}"
        return f"{key.replace('_', ' ')}: {value}"
