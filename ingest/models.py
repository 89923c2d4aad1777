import functools
import uuid

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import (
    Case,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Sum,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from ingest import results
from ingest.totals import correlated_total
from jobs.models import Job, JobStatus


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    MEMBER = "member", "Member"
    OWNER = "owner", "Owner"


WRITE_ROLES = frozenset({Role.MEMBER, Role.OWNER})


def project_channel(project_id) -> str:
    """The Redis pub/sub channel of a project's live job events."""
    return f"ingest:project:{project_id}"


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["name", "created_at"]
        constraints = [
            # Site-wide and regardless of case: the CLI, the client and the
            # agents' tools take a project's name, which must name one project.
            models.UniqueConstraint(
                Lower("name"),
                name="project_unique_name",
                violation_error_message="A project with this name already exists.",
            )
        ]

    def __str__(self):
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")
        ]
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.user} in {self.project} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES


@functools.cache
def _settled_progress() -> dict:
    """``IngestJob.settled_progress``'s expressions, built once: they name no
    job (``OuterRef("pk")`` is the one the UPDATE finds), and an UPDATE
    resolves a copy of them, never these. Building them was a large share of
    a queued job's cancel (bench.api_latency)."""
    finished = IngestFile.objects.filter(job=OuterRef("pk")).exclude(status=FileStatus.PENDING)
    return {
        "items_done": correlated_total(finished, by="job"),
        "items_failed": correlated_total(finished.filter(status=FileStatus.FAILED), by="job"),
        "bytes_done": correlated_total(finished, by="job", total=Sum("size")),
    }


class IngestJob(Job):
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="jobs")
    name = models.CharField(max_length=200)
    chunk_size = models.PositiveIntegerField()
    chunk_overlap = models.PositiveIntegerField()
    # The job this one retries. SET_NULL: purging the old job must not take
    # its retry with it.
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    # The first job of the chain of retries this one belongs to (None: none
    # retried yet). One column, so that "a live job retries this one, or a
    # retry of it" is one indexed look-up however long the chain.
    chain = models.UUIDField(null=True, blank=True, editable=False)
    # Set by the first cleanup: the stored uploads are gone, so nothing of
    # this job can be retried (read by ingest.actions without asking storage).
    uploads_removed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(Job.Meta):
        verbose_name = "ingest job"
        indexes = [
            # The list query: one project, not deleted, newest first. Partial, so
            # its size and cost do not grow with the number of deleted rows.
            models.Index(
                fields=["project", "-created_at"],
                name="ingestjob_alive_list",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["status", "heartbeat_at"],
                name="ingestjob_active",
                condition=Q(status__in=["queued", "running", "cancelling"]),
            ),
            models.Index(
                fields=["chain", "created_at"],
                name="ingestjob_live_chain",
                condition=Q(chain__isnull=False, deleted_at__isnull=True),
            ),
        ]

    @property
    def event_channel(self) -> str:
        return project_channel(self.project_id)

    def log_fields(self) -> dict:
        return {**super().log_fields(), "project": self.project_id}

    def audit_fields(self) -> dict:
        return {"job_name": self.name, "job_scope": str(self.project_id)}

    def settled_progress(self) -> dict:
        return dict(_settled_progress())

    def build_result(self) -> dict:
        """The job's result as stored when it ends (``ingest.results.ended_result``);
        ``ingest.results.RESULT(job)`` is the result as it stands now."""
        return results.ended_result(self)

    def result_files(self) -> list["IngestFile"]:
        """The job's files, each with its own document's id: read in one
        query unless they were read with the job already (``selectors.job_get``)."""
        # Does nothing when the files are prefetched (with or without the
        # documents' ids, which own_document_pk then asks for itself).
        prefetch_related_objects([self], self.files_with_documents())
        files = list(self.files.all())
        containers = [f for f in files if f.kind in results.CONTAINER_KINDS]
        prefetch_related_objects(containers, FileMember.shown())
        return files

    def result_is_partial(self) -> bool:
        """Whether the job kept only some of its files: cancelled before it
        reached them all, now or when its result was stored."""
        cut_short = self.status in (JobStatus.CANCELLING, JobStatus.CANCELLED) and any(
            f.status == FileStatus.PENDING for f in self.result_files()
        )
        return cut_short or bool((self.result or {}).get("partial"))

    def documents_created_count(self) -> int:
        """How many documents the job created; read with the job by
        ``selectors.job_get`` (``documents_created``), else counted."""
        documents = getattr(self, "documents_created", None)
        return Document.objects.filter(job=self).count() if documents is None else documents

    @staticmethod
    def count_of_documents_created() -> Coalesce:
        """The number of documents a job created, as an annotation of its query."""
        return correlated_total(Document.objects.filter(job=OuterRef("pk")), by="job")

    def retry_ids(self) -> list[str]:
        """The ids of the jobs retrying this one, oldest first."""
        # Sorted here rather than by the query, so that the retries
        # selectors.job_get read with the job serve as they are.
        retries = sorted(self.retries.all(), key=lambda retry: (retry.created_at, retry.pk))
        return [str(retry.pk) for retry in retries]

    @staticmethod
    def files_with_documents() -> Prefetch:
        """A job's files, each with the id of its own document (``own_document_id``),
        which ``IngestFile.own_document_pk`` reads. The source of a file's own document is a
        message's, not its attachments'; for a zip, which has none of its own,
        its first member's."""
        own = _own_document_sources(OuterRef("pk"))
        # The output field named, so that SQLite's text comes back as a UUID.
        document_id = Subquery(own.values("document_id")[:1], output_field=models.UUIDField())
        files = IngestFile.objects.annotate(own_document_id=document_id)
        return Prefetch("files", queryset=files)


class FileStatus(models.TextChoices):
    PENDING = "pending", "Not reached"
    DONE = "done", "Done"
    DUPLICATE = "duplicate", "Duplicate"
    FAILED = "failed", "Failed"


class IngestFile(models.Model):
    """One uploaded file of a job. Its status is written in the same
    transaction as its documents, so "done" and the data never disagree."""

    job = models.ForeignKey(IngestJob, on_delete=models.CASCADE, related_name="files")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    kind = models.CharField(max_length=16)
    sha256 = models.CharField(max_length=64)
    storage_path = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=FileStatus.choices, default=FileStatus.PENDING)
    error = models.TextField(blank=True)
    chunks = models.PositiveIntegerField(default=0)
    # How many of its members (a zip's files, a message's attachments) have a
    # result: FileMember rows, counted as each is written.
    members_count = models.PositiveIntegerField(default=0)
    # What reading it found: the text's encoding, a PDF's page count, a
    # table's delimiter, what a zip expanded to.
    details = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "position"]
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="ingestfile_unique_position")
        ]

    def __str__(self):
        return self.name

    def members_shown(self) -> list["FileMember"]:
        """Its first ``results.MEMBERS_SHOWN`` members, read with its job's
        files by ``IngestJob.result_files``, else here (one query)."""
        shown = getattr(self, "shown_members", None)
        if shown is None:
            shown = list(self.member_results.filter(position__lt=results.MEMBERS_SHOWN))
        return shown

    def own_document_pk(self):
        """The id of the file's own document, or None: from the annotation
        ``IngestJob.files_with_documents`` adds, else asked for (one query)."""
        if hasattr(self, "own_document_id"):
            return self.own_document_id
        return _own_document_sources(self.pk).values_list("document_id", flat=True).first()


def _own_document_sources(file):
    """The sources of ``file`` (an id or an ``OuterRef``), its own document's
    first: a message's own source before its attachments'; for a zip, which
    has none of its own, its first member's."""
    return DocumentSource.objects.filter(file=file).order_by(
        Case(When(member="", then=0), default=1), "id"
    )


class FileMember(models.Model):
    """A file inside a file: a zip's member or a message's attachment, with
    its own result. A row each, written in the transaction of its document,
    so that recording one costs the same however many came before."""

    file = models.ForeignKey(IngestFile, on_delete=models.CASCADE, related_name="member_results")
    position = models.PositiveIntegerField()  # in the order they were read
    name = models.TextField()
    status = models.CharField(max_length=16)  # done, duplicate, failed, or skipped (attachments)
    document = models.UUIDField(null=True, blank=True)  # its id; the document may be removed
    chunks = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)  # its kind, encoding, pages

    class Meta:
        ordering = ["file", "position"]
        constraints = [
            models.UniqueConstraint(fields=["file", "position"], name="filemember_unique_position")
        ]

    def __str__(self):
        return self.name

    @staticmethod
    def shown() -> Prefetch:
        """The members a file's result shows, as ``IngestFile.members_shown`` reads them."""
        first = FileMember.objects.filter(position__lt=results.MEMBERS_SHOWN)
        return Prefetch("member_results", queryset=first, to_attr="shown_members")


class Document(models.Model):
    """A canonical document of a project. Its text lives in its chunks, so no
    whole file ever has to sit in memory."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(help_text="characters of canonical text")
    source_file = models.ForeignKey(
        IngestFile, null=True, on_delete=models.SET_NULL, related_name="documents"
    )
    job = models.ForeignKey(
        IngestJob, null=True, on_delete=models.SET_NULL, related_name="documents"
    )
    # Provenance as plain values: the two keys above are nulled when a purge
    # removes the job and its files, and these keep saying where it came from.
    origin_job_id = models.UUIDField(null=True, blank=True, db_index=True)
    origin_job_name = models.CharField(max_length=200, blank=True)
    origin_file_id = models.PositiveBigIntegerField(null=True, blank=True)
    origin_file_name = models.CharField(max_length=255, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The title's tokens (ingest.search.analyzer), and on PostgreSQL its
    # tsvector (GIN-indexed, migration 0010); on SQLite, search_key is the
    # document's rowid in the FTS5 index of titles and, shifted, of its chunks.
    terms = models.TextField(default="", editable=False)
    search = SearchVectorField(null=True, editable=False)
    search_key = models.BigIntegerField(null=True, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="document_unique_sha256")
        ]

    def __str__(self):
        return self.title


class Chunk(models.Model):
    # No index of its own: the (document, index) unique constraint leads with
    # it and serves every lookup by document; one index fewer to keep up per
    # chunk written.
    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, related_name="chunks", db_index=False
    )
    index = models.PositiveIntegerField()
    text = models.TextField()
    start = models.PositiveBigIntegerField()
    end = models.PositiveBigIntegerField()
    # The text's tokens, and on PostgreSQL its tsvector (see Document).
    terms = models.TextField(default="", editable=False)
    search = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["document", "index"]
        constraints = [
            models.UniqueConstraint(fields=["document", "index"], name="chunk_unique_index")
        ]

    def __str__(self):
        return f"{self.document_id}#{self.index}"


class DocumentSource(models.Model):
    """A file (or a member of a zip) that yielded a document, first or as a
    duplicate. A document belongs to a job's cleanup only when every source
    of it is that job's."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="sources")
    file = models.ForeignKey(IngestFile, on_delete=models.CASCADE, related_name="sources")
    member = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["file", "id"]

    def __str__(self):
        return f"{self.file} -> {self.document_id}"


class IdempotencyKey(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    job = models.ForeignKey(IngestJob, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_key")
        ]

    def __str__(self):
        return self.key
