"""Jobs, projects and documents as JSON-ready dicts: the one representation
that the HTTP API, the agents' tools (MCP) and the management commands all
answer with.

It lives in the domain so that neither interface imports the other: the API's
output serializers delegate their ``to_representation`` here (and keep their
declared fields for the OpenAPI schema), and the MCP tools call it directly.
Values are formatted as DRF formats them: ids as strings, times in ISO 8601
with ``Z`` for UTC.
"""

from datetime import UTC, datetime

from django.urls import reverse

from ingest import retention
from ingest.models import Document, IngestJob, Project
from jobs.models import JobEvent, JobStatus

# What a status means for the job now, where a person needs telling. Said here
# once: the API and the agents' tools answer with it, the dashboard and the
# commands show it, and the remote client shows what the server answered.
STATUS_NOTES = {
    JobStatus.CANCELLING: "it stops at its next checkpoint and keeps the files it has finished.",
}


def when(value: datetime | None) -> str | None:
    """A time in UTC, ISO 8601 with ``Z``, whatever zone a page shows it in.

    Not DRF's ``timezone.localtime``: with the settings' zone UTC it gave the
    same text, but looked the active zone up for each value, a fifth of a
    job list page's time in process.
    """
    if value is None:
        return None
    if value.tzinfo is not UTC:  # the database's times mostly are
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return f"{value.isoformat()[:-6]}Z"  # its "+00:00" written the short way


def job_path(job: IngestJob) -> str:
    return reverse("api:job-detail", kwargs={"project_id": job.project_id, "pk": job.pk})


def job_progress(job: IngestJob) -> dict:
    return {
        "files_total": job.items_total,
        "files_done": job.items_done,
        "bytes_total": job.bytes_total,
        "bytes_done": job.bytes_done,
        "percent": job.percent,
    }


def job(job: IngestJob, *, url: str | None = None, with_result: bool = True) -> dict:
    """A job as the API shows it; ``url`` defaults to the API path of the job.

    ``status_note`` says what the status means for the job now (null when
    nothing needs saying). ``purge_at`` is when the reaper purges a deleted job (null for a job that
    is not deleted, or when the automatic purge is off).
    """
    data = {
        "id": str(job.pk),
        "url": url or job_path(job),
        "project": str(job.project_id),
        "name": job.name,
        "status": job.status,
        "status_note": STATUS_NOTES.get(job.status),
        "retry_of": str(job.retry_of_id) if job.retry_of_id else None,
        "version": job.version,
        "chunk_size": job.chunk_size,
        "chunk_overlap": job.chunk_overlap,
        "created_at": when(job.created_at),
        "started_at": when(job.started_at),
        "finished_at": when(job.finished_at),
        "cancel_requested_at": when(job.cancel_requested_at),
        "delete_requested_at": when(job.delete_requested_at),
        "purge_at": when(retention.purge_at(job)),
        "error": job.error or None,
        "progress": job_progress(job),
    }
    if with_result:
        # The detail's extras, each a query: the jobs retrying this one, oldest
        # first, and the per-file result.
        data["retries"] = job.retry_ids()
        data["result"] = job.build_result()
    return data


def event(event: JobEvent) -> dict:
    """One entry of a job's audit trail; ``from`` is null for the creation event."""
    return {
        "action": event.action,
        "to": event.to_status,
        "actor": event.actor.username if event.actor else None,
        "reason": event.summary,
        "at": when(event.at),
        "from": event.from_status or None,
    }


def project(project: Project, *, role: str | None) -> dict:
    return {
        "id": str(project.pk),
        "name": project.name,
        "created_at": when(project.created_at),
        "role": role,
    }


def document(document: Document) -> dict:
    return {
        "id": str(document.pk),
        "title": document.title,
        "sha256": document.sha256,
        "size": document.size,
        "chunk_count": document.chunk_count,
        # The plain provenance values: still there once the job was purged.
        "source_job": str(document.origin_job_id) if document.origin_job_id else None,
        "source_file": document.origin_file_name or None,
        "created_at": when(document.created_at),
    }


def document_hit(hit: Document) -> dict:
    """A document in a list: with a search, its rank and snippet (see
    ``selectors.document_snippets``); both null without one."""
    return {
        **document(hit),
        "rank": getattr(hit, "rank", None),
        "snippet": getattr(hit, "snippet", None),
    }


def cleanup(report) -> dict:
    """A :class:`~ingest.services.CleanupReport` with its verdict."""
    return {
        "files_removed": report.files_removed,
        "bytes_freed": report.bytes_freed,
        "work_dirs_removed": report.work_dirs_removed,
        "rq_entries_removed": report.rq_entries_removed,
        "documents_removed": report.documents_removed,
        "chunks_removed": report.chunks_removed,
        "removed_anything": report.removed_anything,
        "detail": report.detail,
    }
