"""Jobs, projects and documents as JSON-ready dicts: the one representation
that the HTTP API, the agents' tools (MCP) and the management commands all
answer with.

Each output shape is declared here once (see ``ingest.shapes``): the same
declaration builds the answer and, through ``ingest.api.shapes``, the OpenAPI
schema's component. A new field is one entry in one shape. It lives in the
domain so that neither interface imports the other. Values are formatted as
DRF formats them: ids as strings, times in ISO 8601 with ``Z`` for UTC.
"""

from django.urls import reverse

from ingest import actions, retention
from ingest.models import Document, IngestJob, Project
from ingest.results import RESULT
from ingest.shapes import (
    BOOLEAN,
    DATETIME,
    INTEGER,
    NUMBER,
    STRING,
    UUID,
    Choice,
    Field,
    ListOf,
    Shape,
    same,
    when,
)
from jobs.models import JobEvent, JobStatus

__all__ = ["CLEANUP", "DOCUMENT", "DOCUMENT_HIT", "EVENT", "JOB", "JOB_SUMMARY", "PROJECT", "when"]

# What a status means for the job now, where a person needs telling. Said here
# once: the API and the agents' tools answer with it, the dashboard and the
# commands show it, and the remote client shows what the server answered.
STATUS_NOTES = {
    JobStatus.CANCELLING: "it stops at its next checkpoint and keeps the files it has finished.",
}


def status_label(job: IngestJob) -> str:
    """A job's status for people: "Completed", "Cancelling…", and for a
    deleted job what it was before, "Deleted (had completed)"."""
    if job.deleted_at is not None:
        before = JobStatus(job.status_before_delete or job.status).label.lower()
        return f"Deleted (had {before})"
    if job.status == JobStatus.CANCELLING:
        return "Cancelling…"
    return JobStatus(job.status).label


def job_path(job: IngestJob) -> str:
    return reverse("api:job-detail", kwargs={"project_id": job.project_id, "pk": job.pk})


PROGRESS = Shape(
    "Progress",
    {
        "files_total": Field(INTEGER, "items_total"),
        "files_done": Field(INTEGER, "items_done", help="files finished, well or not"),
        "files_failed": Field(INTEGER, "items_failed", help="of files_done, those that failed"),
        "bytes_total": Field(INTEGER),
        "bytes_done": Field(INTEGER),
        "percent": Field(
            INTEGER, reads=("bytes_total", "bytes_done", "items_total", "items_done", "status")
        ),
    },
)

JOB = Shape(
    "Job",
    {
        "id": Field(UUID, "pk", reads=("id",)),
        "url": Field(STRING, job_path, reads=("project_id", "id")),
        "project": Field(UUID, "project_id"),
        "name": Field(STRING),
        "status": Field(Choice(tuple(JobStatus.choices))),
        "status_before_delete": Field(
            Choice(tuple(JobStatus.choices)),
            lambda job: job.status_before_delete or None,
            null=True,
            help="a deleted job's status before its delete, which set it cancelled "
            "(null unless deleted)",
            reads=("status_before_delete",),
        ),
        "actions": Field(
            ListOf(Choice(actions.ACTIONS)),
            actions.job_actions,
            help="what the job allows now, one of cancel, retry, cleanup and delete "
            "(your role permitting); an active job is deleted with ?force=true",
            reads=actions.READS,
        ),
        "status_note": Field(
            STRING,
            lambda job: STATUS_NOTES.get(job.status),
            null=True,
            help="what the status means for the job now, in words (null when nothing needs saying)",
            reads=("status",),
        ),
        "retry_of": Field(UUID, "retry_of_id", null=True),
        "version": Field(INTEGER),
        "chunk_size": Field(INTEGER),
        "chunk_overlap": Field(INTEGER),
        "created_at": Field(DATETIME),
        "started_at": Field(DATETIME, null=True),
        "finished_at": Field(DATETIME, null=True),
        "cancel_requested_at": Field(DATETIME, null=True),
        "delete_requested_at": Field(DATETIME, null=True),
        "deleted_at": Field(
            DATETIME, null=True, help="when the job was deleted (only auditors read a deleted job)"
        ),
        "purge_at": Field(
            DATETIME,
            retention.purge_at,
            null=True,
            help="when a deleted job is purged for good (null unless deleted, or with no purge)",
            reads=("deleted_at",),
        ),
        "error": Field(STRING, lambda job: job.error or None, null=True, reads=("error",)),
        "progress": Field(PROGRESS, same),
        # The detail's extras, each a query: the jobs retrying this one, oldest
        # first, and the per-file result.
        "retries": Field(
            ListOf(UUID), lambda job: job.retry_ids(), help="the jobs retrying this one", reads=()
        ),
        "result": Field(RESULT, same),
    },
)

JOB_SUMMARY = JOB.without(
    "retries",
    "result",
    name="JobSummary",
    doc="The list's rows: no per-file result and no retries (each costs a query per job).",
)


def job(job: IngestJob, *, url: str | None = None, with_result: bool = True) -> dict:
    """A job as the API shows it (``JOB``, or ``JOB_SUMMARY`` without its
    result); ``url`` defaults to the API path of the job."""
    shape = JOB if with_result else JOB_SUMMARY
    return shape(job, url=url) if url else shape(job)


def job_progress(job: IngestJob) -> dict:
    return PROGRESS(job)


EVENT = Shape(
    "Event",
    {
        "action": Field(STRING),
        "to": Field(STRING, "to_status"),
        "actor": Field(
            STRING,
            lambda event: event.actor.username if event.actor else None,
            null=True,
            reads=("actor",),
        ),
        # The reason followed by what the event counted (a cleanup's counts).
        "reason": Field(STRING, "summary", reads=("reason", "extra")),
        "at": Field(DATETIME),
        # Null for the creation event.
        "from": Field(STRING, lambda event: event.from_status or None, null=True),
    },
    doc="One entry of a job's audit trail.",
)


def event(event: JobEvent) -> dict:
    return EVENT(event)


PROJECT = Shape(
    "Project",
    {
        "id": Field(UUID, "pk", reads=("id",)),
        "name": Field(STRING),
        "created_at": Field(DATETIME),
        # The caller's role: annotated by selectors.project_list, or given.
        "role": Field(STRING, lambda project: getattr(project, "role", None), null=True, reads=()),
    },
)


def project(project: Project, *, role: str | None) -> dict:
    return PROJECT(project, role=role)


DOCUMENT = Shape(
    "Document",
    {
        "id": Field(UUID, "pk", reads=("id",)),
        "title": Field(STRING),
        "sha256": Field(STRING),
        "size": Field(INTEGER, help="characters of canonical text"),
        "chunk_count": Field(INTEGER),
        # The plain provenance values: still there once the job was purged.
        "source_job": Field(UUID, "origin_job_id", null=True),
        "source_file": Field(
            STRING,
            lambda document: document.origin_file_name or None,
            null=True,
            reads=("origin_file_name",),
        ),
        "created_at": Field(DATETIME),
    },
)

DOCUMENT_HIT = DOCUMENT.extended(
    {
        "rank": Field(NUMBER, lambda hit: getattr(hit, "rank", None), null=True, reads=()),
        "snippet": Field(
            STRING,
            lambda hit: getattr(hit, "snippet", None),
            null=True,
            help="HTML: the document's best matching passage, its text escaped and "
            "the matched words in <mark>; null without a search",
            reads=(),
        ),
    },
    name="DocumentHit",
    doc="A document in the list: with a search, its rank and a snippet.",
)


def document(document: Document) -> dict:
    return DOCUMENT(document)


def document_hit(hit: Document) -> dict:
    """A document in a list: with a search, its rank and snippet (see
    ``selectors.document_snippets``); both null without one."""
    return DOCUMENT_HIT(hit)


CLEANUP = Shape(
    "Cleanup",
    {
        "files_removed": Field(INTEGER),
        "bytes_freed": Field(INTEGER),
        "work_dirs_removed": Field(INTEGER),
        "rq_entries_removed": Field(INTEGER),
        "documents_removed": Field(INTEGER),
        "chunks_removed": Field(INTEGER),
        "removed_anything": Field(BOOLEAN),
        "detail": Field(STRING),
    },
    doc="Counts of what was really removed; a second cleanup reports zeros.",
)


def cleanup(report) -> dict:
    """A :class:`~ingest.services.CleanupReport` with its verdict."""
    return CLEANUP(report)
