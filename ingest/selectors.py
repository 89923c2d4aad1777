"""Reads that encode access rules. Views and commands call these, never raw queries."""

import functools
import uuid

from django.db.models import (
    Exists,
    F,
    OuterRef,
    QuerySet,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce

from ingest import actions, prepared, representation, search
from ingest.models import (
    Chunk,
    Document,
    DocumentSource,
    FileMember,
    IdempotencyKey,
    IngestFile,
    IngestJob,
    Membership,
    Project,
)
from ingest.prepared import PreparedQuery, Rows
from ingest.totals import correlated_total
from jobs.models import ACTIVE_STATUSES, TERMINAL_STATUSES


class NotFound(Exception):
    """The thing does not exist, or the user may not know that it does."""


def _uuid(value) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound() from None


def _projects_of(user_id, with_counts=False):
    # The annotation reuses the filter's join: the role is this user's.
    projects = (
        Project.objects.filter(memberships__user=user_id)
        .annotate(role=F("memberships__role"))
        .order_by("name", "created_at")
    )
    if with_counts:
        projects = projects.annotate(
            active_jobs=_live_job_count(ACTIVE_STATUSES),
            finished_jobs=_live_job_count(TERMINAL_STATUSES),
        )
    return projects


_PROJECTS = {
    with_counts: PreparedQuery(
        functools.partial(_projects_of, with_counts=with_counts), user_id=int
    )
    for with_counts in (False, True)
}


def project_list(*, user, with_counts: bool = True) -> Rows:
    """The projects ``user`` is a member of, by name, with the user's ``role``
    in each and, ``with_counts``, counts of active and finished jobs (a count
    per project, so the lists that do not show them go without)."""
    return Rows(_PROJECTS[with_counts], by="memberships__user", user_id=user.pk)


def _live_job_count(statuses) -> Coalesce:
    # A correlated count over live jobs only: it reads the partial index
    # ingestjob_alive_list, so its cost does not grow with deleted jobs (a
    # filtered Count over a join visits every deleted row of the project).
    jobs = IngestJob.objects.filter(project=OuterRef("pk"), status__in=sorted(statuses))
    return correlated_total(jobs, by="project")


def membership_get(*, user, project_id) -> Membership:
    """The user's membership of the project; NotFound for non-members (no existence leak)."""
    if not user.is_authenticated:
        raise NotFound()
    membership = (
        Membership.objects.select_related("project")
        .filter(user=user, project_id=_uuid(project_id))
        .first()
    )
    if membership is None:
        raise NotFound()
    return membership


# The reads every API call makes, compiled once (see ingest.prepared).
_MEMBERSHIP_FOR_TOKEN = PreparedQuery(
    lambda key, project_id: (
        Membership.objects.select_related("project", "user__auth_token")
        .filter(user__auth_token__key=key, project_id=project_id)
        .order_by()[:1]
    ),
    key=str,
    project_id=uuid.UUID,
)


def membership_for_token(*, key: str, project_id) -> Membership | None:
    """The membership of an API token's user in the project, with the user,
    the token and the project, in one query; None when there is none."""
    try:
        project_id = _uuid(project_id)
    except NotFound:
        return None
    return _MEMBERSHIP_FOR_TOKEN.first(key=key, project_id=project_id)


def job_for_idempotency_key(*, user, project: Project, key: str) -> IngestJob | None:
    """The project's job ``user`` created with this Idempotency-Key, if any
    (and not deleted since)."""
    row = (
        IdempotencyKey.objects.filter(
            user=user, key=key, job__project=project, job__deleted_at__isnull=True
        )
        .select_related("job")
        .first()
    )
    return row.job if row else None


def member_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("created_at")


JOB_LIST_ORDER = ("-created_at", "-id")


@functools.cache
def _jobs(include_deleted: bool, by_status: bool, with_result: bool) -> PreparedQuery:
    """The project's jobs, newest first, with the columns their list row
    shows (``representation.JOB_SUMMARY``) and, ``with_result``, the stored
    result (JSON decoded for each row, and no list row of the API shows it)."""
    columns = representation.JOB_SUMMARY.reads + (("result",) if with_result else ())

    def build(project_id, status=None):
        manager = IngestJob.all_objects if include_deleted else IngestJob.objects
        jobs = manager.filter(project_id=project_id).order_by(*JOB_LIST_ORDER).only(*columns)
        jobs = jobs.annotate(retried=_retried())  # for ingest.actions, with each row
        return jobs.filter(status=status) if by_status else jobs

    return PreparedQuery(build, project_id=uuid.UUID, **({"status": str} if by_status else {}))


def job_list(
    *,
    project: Project,
    status: str | None = None,
    include_deleted: bool = False,
    with_result: bool = False,
) -> Rows:
    """The project's jobs, newest first, ``status`` only if given; deleted
    ones only for operators' audits. The live jobs' count and pages read the
    list's partial index, so their cost does not grow with deleted jobs."""
    query = _jobs(include_deleted, bool(status), with_result)
    values = {"project_id": project.pk, **({"status": status} if status else {})}
    return Rows(query, by="project", **values)


def _job(project_id, job_id):
    return IngestJob.objects.filter(project_id=project_id, pk=job_id)  # one row at most


def _retried() -> Exists:
    """Whether a live job retries this one, or a retry of it: what
    ingest.actions asks of each job it decides for, read with the job
    (``services.retry.latest_attempt`` says why a newer live job of its
    chain is one)."""
    return Exists(actions.later_attempts(OuterRef("chain"), OuterRef("created_at")))


def _job_with_count(project_id, job_id):
    # With what the job's representation shows of its documents, and whether
    # any job retries it (its files are a query of their own, below, and so
    # are its retries, when it has any: most jobs have none).
    return _job(project_id, job_id).annotate(
        documents_created=IngestJob.count_of_documents_created(), retried=_retried()
    )


_JOB = PreparedQuery(_job, project_id=uuid.UUID, job_id=uuid.UUID)
_JOB_WITH_COUNT = PreparedQuery(_job_with_count, project_id=uuid.UUID, job_id=uuid.UUID)
_JOB_FILES = PreparedQuery(
    lambda job_id: IngestJob.files_with_documents().queryset.filter(job_id=job_id),
    job_id=uuid.UUID,
)
_JOB_RETRIES = PreparedQuery(
    lambda job_id: IngestJob.objects.filter(retry_of_id=job_id).only(
        "id", "retry_of_id", "created_at"
    ),
    job_id=uuid.UUID,
)


def job_get(*, project: Project, job_id, with_files: bool = True) -> IngestJob:
    """The project's job; ``with_files``, with all its representation shows
    (its documents, its files and their documents, its retries) in two
    queries, or three for a job that has been retried."""
    job_id = _uuid(job_id)
    job = (_JOB_WITH_COUNT if with_files else _JOB).first(project_id=project.pk, job_id=job_id)
    if job is None:
        raise NotFound()
    if with_files:
        prepared.prefetch(job, "files", _JOB_FILES, job_id=job_id)
        retries = _JOB_RETRIES if job.retried else None  # most jobs have none
        prepared.prefetch(job, "retries", retries, job_id=job_id)
    return job


def job_for_audit(*, project_id, job_id) -> IngestJob | None:
    """A job of the project whatever its state, deleted included, with what
    its page shows: for auditors, who see every job (``can_audit``)."""
    job = (
        IngestJob.all_objects.filter(project_id=_uuid(project_id), pk=_uuid(job_id))
        .select_related("project")
        .annotate(documents_created=IngestJob.count_of_documents_created(), retried=_retried())
        .first()
    )
    if job is not None:
        prefetch_related_objects([job], IngestJob.files_with_documents())
    return job


def can_audit(user) -> bool:
    """Whether ``user`` sees every job, deleted ones included: the auditors
    (``manage.py grant_auditor``) and superusers."""
    return user.is_active and user.is_staff and user.has_perm("ingest.view_ingestjob")


def _document_columns(with_job: bool) -> tuple[str, ...]:
    return representation.DOCUMENT_HIT.reads + (("job",) if with_job else ())


@functools.cache
def _documents(with_job: bool) -> PreparedQuery:
    """The project's documents, newest first, with the columns their
    representation shows and, ``with_job``, the job each came from."""

    def build(project_id):
        documents = Document.objects.filter(project_id=project_id).only(
            *_document_columns(with_job)
        )
        if with_job:
            documents = documents.select_related("job")
        return documents.order_by("-created_at", "id")

    return PreparedQuery(build, project_id=uuid.UUID)


def document_list(*, project: Project, q: str = "", with_job: bool = False) -> Rows | search.Hits:
    """The project's documents, newest first; with ``q`` (see ``ingest.search``)
    only those whose title or text matches, best first: the search's hits,
    read as rows are (a count, pages, iteration), each page's documents with
    their rank and the passage of their snippet."""
    q = search.clean(q)
    if not q:
        return Rows(_documents(with_job), by="project", project_id=project.pk)
    return search.hits(
        project_id=project.pk,
        q=q,
        fields=_document_columns(with_job),
        related=("job",) if with_job else (),
    )


def search_query(raw: str) -> str:
    return search.clean(raw)


def document_snippets(*, documents: list[Document], q: str) -> list[Document]:
    """Sets ``snippet`` on each document of a page of search hits (no query)."""
    return search.attach_snippets(documents, search.clean(q))


# What only the search reads: never loaded with a document.
_SEARCH_FIELDS = ("terms", "search", "search_key")


def document_get(*, project: Project, document_id) -> Document:
    document = (
        Document.objects.filter(project=project, pk=_uuid(document_id))
        .select_related("source_file", "job")
        .defer(*_SEARCH_FIELDS)
        .first()
    )
    if document is None:
        raise NotFound()
    return document


def document_chunks(*, document: Document) -> QuerySet[Chunk]:
    return document.chunks.defer("terms", "search").order_by("index")


def file_members(*, job: IngestJob, position) -> QuerySet[FileMember]:
    """The members (a zip's files, a message's attachments) of the job's file
    at ``position``, in the order they were read."""
    if not str(position).isdigit():  # a malformed position is a 404, as a malformed id is
        raise NotFound()
    ingest_file = IngestFile.objects.filter(job=job, position=int(position)).only("pk").first()
    if ingest_file is None:
        raise NotFound()
    return ingest_file.member_results.order_by("position")


def job_documents(*, job: IngestJob, limit: int = 200) -> QuerySet[Document]:
    """The documents a job produced first, oldest first (duplicates belong to others)."""
    return job.documents.order_by("created_at")[:limit]


def document_sources(*, document: Document) -> QuerySet[DocumentSource]:
    return document.sources.select_related("file")


def job_find(*, job_id, include_deleted: bool = False) -> IngestJob:
    """Any project's job by id, for operators' commands (no membership check)."""
    manager = IngestJob.all_objects if include_deleted else IngestJob.objects
    job = manager.select_related("project", "created_by").filter(pk=_uuid(job_id)).first()
    if job is None:
        raise NotFound()
    return job


def projects_called(*, id_or_name: str) -> list[Project]:
    """Projects by id, or else by name, for operators' commands (no membership check).

    More than one means the name is ambiguous: the caller asks for the id.
    """
    try:
        by_id = Project.objects.filter(pk=uuid.UUID(id_or_name)).first()
    except ValueError:
        by_id = None
    return [by_id] if by_id else list(Project.objects.filter(name=id_or_name)[:2])
