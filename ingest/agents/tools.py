"""What each agents' tool does, as the user it acts for.

Plain synchronous functions over the same selectors and services as the HTTP
API: membership (a non-member gets the API's "not found" sentence, so a
project's existence does not leak), roles (viewers read only), the services'
own refusals, and audit events naming ``user``. Each returns the API's
representation of what it touched (``ingest.representation``) and raises
:class:`Refusal` with the sentence and code the API would answer with.
"""

import base64
import binascii
import uuid

from django.core.files.uploadedfile import SimpleUploadedFile

from ingest import representation, selectors, services
from ingest.models import IngestJob, Membership

SEARCH_LIMIT = 25  # the API's page size


# A refusal repeats what a call named (a tool, a project, a file): never more
# than this of it, so that an answer's size does not follow the call's.
DETAIL_CHARS = 1000


class Refusal(Exception):
    """A refusal in the API's words: ``{"detail": ..., "code": ...}``."""

    def __init__(self, detail: str, code: str):
        if len(detail) > DETAIL_CHARS:
            detail = detail[: DETAIL_CHARS - 1] + "…"
        super().__init__(detail)
        self.detail = detail
        self.code = code

    def as_dict(self) -> dict:
        return {"detail": self.detail, "code": self.code}


def refusal_for(exc: Exception) -> Refusal | None:
    """A domain exception as the API words it: the shared table (``services.refusal_for``)."""
    refusal = services.refusal_for(exc)
    if refusal is None:
        return None
    if refusal.field:
        # The API's validation errors read "<field>: <message>".
        return Refusal(f"{refusal.field}: {refusal.detail}", refusal.code)
    return Refusal(refusal.detail, refusal.code)


def refuse_nul(arguments: dict, within: str = "") -> None:
    """Refuse a tool's arguments when any text in them holds a NUL character:
    no name, id, reason or query here can hold one (PostgreSQL stores none)."""
    for key, value in arguments.items():
        where = f"{within}{key}"
        if isinstance(value, str) and "\x00" in value:
            raise Refusal(f"{where}: cannot hold a NUL character.", "invalid")
        if isinstance(value, dict):
            refuse_nul(value, f"{where}.")
        if isinstance(value, list):
            refuse_nul({f"[{i}]": item for i, item in enumerate(value)}, where)


# --- lookups -------------------------------------------------------------------


def membership(user, project: str, *, write: bool = False) -> Membership:
    """The user's membership of the project named by id or by name."""
    mine = Membership.objects.select_related("project").filter(user=user)
    found = mine.filter(project_id=project).first() if _is_uuid(project) else None
    if found is None:
        named = list(mine.filter(project__name=project)[:2])
        if len(named) > 1:
            raise Refusal(
                f"several of your projects are called {project!r}; give the project's id.",
                "ambiguous",
            )
        found = named[0] if named else None
    if found is None:
        raise Refusal(services.NOT_FOUND, "not_found")
    if write and not found.can_write:
        raise Refusal(services.VIEWERS_READ_ONLY, "permission_denied")
    return found


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _job(member: Membership, job_id: str, *, with_files: bool = True) -> IngestJob:
    return selectors.job_get(project=member.project, job_id=job_id, with_files=with_files)


def _fresh(job: IngestJob) -> IngestJob:
    """The job again with its files, as the API answers after a write."""
    return selectors.job_get(project=job.project, job_id=job.pk)


# --- the tools -----------------------------------------------------------------


def list_projects(user) -> dict:
    projects = list(selectors.project_list(user=user))
    roles = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
    results = [representation.project(p, role=roles.get(p.pk)) for p in projects]
    return {"count": len(results), "results": results}


def create_job(
    user,
    *,
    project: str,
    files: list[dict],
    name: str = "",
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
) -> dict:
    member = membership(user, project, write=True)
    uploads = [_upload(i, f) for i, f in enumerate(files)]
    job, _ = services.job_create(
        project=member.project,
        user=user,
        uploads=uploads,
        name=name,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
    )
    return representation.job(_fresh(job))


def _upload(index: int, item: dict) -> SimpleUploadedFile:
    name = (item.get("name") or "").strip()
    text, encoded = item.get("content"), item.get("content_base64")
    where = f"files[{index}]"
    if not name:
        raise Refusal(f"files: {where} needs a name.", "invalid")
    services.check_file_name(name)
    if (text is None) == (encoded is None):
        raise Refusal(
            f"files: {where} ({name}) needs content or content_base64, not both.", "invalid"
        )
    if text is not None:
        data = text.encode("utf-8")
    else:
        try:
            # Line breaks are allowed, as MIME writes base64 (RFC 2045).
            data = base64.b64decode("".join(encoded.split()), validate=True)
        except (binascii.Error, ValueError):
            raise Refusal(
                f"files: {where} ({name}) content_base64 is not valid base64.", "invalid"
            ) from None
    return SimpleUploadedFile(name, data)


def get_job(user, *, project: str, job: str) -> dict:
    return representation.job(_job(membership(user, project), job))


def cancel_job(user, *, project: str, job: str, reason: str = "") -> dict:
    found = _job(membership(user, project, write=True), job, with_files=False)
    services.job_cancel(job=found, actor=user, reason=reason)
    return representation.job(_fresh(found))


def cleanup_job(user, *, project: str, job: str, documents: bool = False) -> dict:
    found = _job(membership(user, project, write=True), job, with_files=False)
    report = services.job_cleanup(job=found, actor=user, documents=documents)
    return representation.cleanup(report)


def delete_job(user, *, project: str, job: str, force: bool = False) -> dict:
    """The job as it is after the delete: soft-deleted (with its ``purge_at``),
    or, forced on an active job, cancelling until it stops."""
    found = _job(membership(user, project, write=True), job, with_files=False)
    if not services.job_delete(job=found, actor=user, force=force):
        raise Refusal(services.NOT_FOUND, "not_found")  # another request deleted it first
    deleted = IngestJob.all_objects.get(pk=found.pk)
    return representation.job(deleted)


def retry_job(user, *, project: str, job: str) -> dict:
    found = _job(membership(user, project, write=True), job, with_files=False)
    return representation.job(services.job_retry(job=found, actor=user))


def search_documents(user, *, project: str, query: str) -> dict:
    member = membership(user, project)
    found = selectors.document_list(project=member.project, q=query)
    hits = selectors.document_snippets(documents=list(found[:SEARCH_LIMIT]), q=query)
    return {"count": found.count(), "results": [representation.document_hit(d) for d in hits]}
