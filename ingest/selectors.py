"""Reads that encode access rules. Views and commands call these, never raw queries."""

import uuid

from django.db.models import (
    Exists,
    F,
    OuterRef,
    QuerySet,
)
from django.db.models.functions import Coalesce

from ingest import search
from ingest.models import (
    Chunk,
    Document,
    DocumentSource,
    IngestJob,
    Membership,
    Project,
    correlated_total,
    totals_by,
)
from ingest.prepared import PreparedPages, PreparedQuery, set_prefetched
from jobs.models import ACTIVE_STATUSES, TERMINAL_STATUSES


class NotFound(Exception):
    """The thing does not exist, or the user may not know that it does."""


def _uuid(value) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound() from None


def project_list(*, user, with_counts: bool = True) -> QuerySet[Project]:
    """The projects ``user`` is a member of, with the user's ``role`` in each
    and, ``with_counts``, counts of active and finished jobs (they cost a
    count per project, so lists that do not show them go without)."""
    projects = _projects_of(user.pk)
    if with_counts:
        projects = projects.annotate(
            active_jobs=_live_job_count(ACTIVE_STATUSES),
            finished_jobs=_live_job_count(TERMINAL_STATUSES),
        )
    return projects


def _projects_of(user_id):
    # The annotation reuses the filter's join: the role is this user's.
    return (
        Project.objects.filter(memberships__user=user_id)
        .annotate(role=F("memberships__role"))
        .order_by("name", "created_at")
    )


def _count(queryset, by: str):
    """``queryset``'s rows counted, as a one-column values_list (no row: none)."""
    return totals_by(queryset, by).values_list("total", flat=True)


_PROJECT_PAGE = PreparedQuery(_projects_of, user_id=int)
_PROJECT_COUNT = PreparedQuery(
    lambda user_id: _count(Membership.objects.filter(user=user_id), by="user"), user_id=int
)


def project_pages(*, user) -> PreparedPages:
    """``project_list`` without the counts, for a paginator: the count and each
    page a prepared query."""
    return PreparedPages(
        _PROJECT_PAGE,
        lambda: _PROJECT_COUNT.first(user_id=user.pk) or 0,
        user_id=user.pk,
    )


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


def member_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("created_at")


JOB_LIST_ORDER = ("-created_at", "-id")


def job_list(
    *, project: Project, status: str | None = None, include_deleted: bool = False
) -> QuerySet[IngestJob]:
    """The project's jobs, newest first; deleted ones only for operators' audits."""
    manager = IngestJob.all_objects if include_deleted else IngestJob.objects
    jobs = manager.filter(project=project).order_by(*JOB_LIST_ORDER)
    if status:
        jobs = jobs.filter(status=status)
    return jobs


def _job(project_id, job_id):
    return IngestJob.objects.filter(project_id=project_id, pk=job_id)  # one row at most


def _job_with_count(project_id, job_id):
    # With what the job's representation shows of its documents, and whether
    # any job retries it (its files are a query of their own, below, and so
    # are its retries, when it has any: most jobs have none).
    return _job(project_id, job_id).annotate(
        documents_created=IngestJob.count_of_documents_created(),
        retried=Exists(IngestJob.objects.filter(retry_of=OuterRef("pk"))),
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


def _alive_jobs(project_id, status=None):
    jobs = IngestJob.objects.filter(project_id=project_id)
    return jobs if status is None else jobs.filter(status=status)


# What a list row never shows (see representation.job): the per-file result
# is JSON decoded for each row, and every column loaded is converted.
_NOT_IN_A_ROW = ("result", "worker_host", "heartbeat_at", "created_by", "cancel_requested_by")


def _job_page(project_id, status=None):
    return _alive_jobs(project_id, status).order_by(*JOB_LIST_ORDER).defer(*_NOT_IN_A_ROW)


def _job_count(project_id, status=None):
    # By the project given, not correlated to it: PostgreSQL then reads the
    # list's partial index (a correlated count took the plain project index
    # and filtered out every deleted job, 12 ms against 5 with 90,000).
    return _count(_alive_jobs(project_id, status), by="project")


_JOB_PAGE = {
    False: PreparedQuery(_job_page, project_id=uuid.UUID),
    True: PreparedQuery(_job_page, project_id=uuid.UUID, status=str),
}
_JOB_COUNT = {
    False: PreparedQuery(_job_count, project_id=uuid.UUID),
    True: PreparedQuery(_job_count, project_id=uuid.UUID, status=str),
}


def job_pages(*, project: Project, status: str | None = None) -> PreparedPages:
    """``job_list`` for a paginator: the count and each page a prepared query."""
    values = {"project_id": project.pk, **({"status": status} if status else {})}
    rows, count = _JOB_PAGE[bool(status)], _JOB_COUNT[bool(status)]
    return PreparedPages(rows, lambda: count.first(**values) or 0, **values)


def job_get(*, project: Project, job_id, with_files: bool = True) -> IngestJob:
    """The project's job; ``with_files``, with all its representation shows
    (its documents, its files and their documents, its retries) in two
    queries, or three for a job that has been retried."""
    job_id = _uuid(job_id)
    job = (_JOB_WITH_COUNT if with_files else _JOB).first(project_id=project.pk, job_id=job_id)
    if job is None:
        raise NotFound()
    if with_files:
        set_prefetched(job, "files", _JOB_FILES(job_id=job_id))
        set_prefetched(job, "retries", _JOB_RETRIES(job_id=job_id) if job.retried else [])
    return job


def document_list(*, project: Project, q: str = "") -> QuerySet[Document]:
    """The project's documents, newest first; with ``q`` (see ``ingest.search``)
    only those whose title or text matches, best first."""
    documents = (
        Document.objects.filter(project=project)
        .select_related("job", "source_file")
        .defer("search")
        .order_by("-created_at", "id")
    )
    q = search.clean(q)
    return search.matching(documents, q) if q else documents


# What the API and the agents' tools show of a document (representation.document).
_DOCUMENT_FIELDS = (
    "id",
    "title",
    "sha256",
    "size",
    "chunk_count",
    "origin_job_id",
    "origin_file_name",
    "created_at",
)


def _documents_shown(project_id):
    return Document.objects.filter(project_id=project_id).only(*_DOCUMENT_FIELDS)


_DOCUMENT_PAGE = PreparedQuery(
    lambda project_id: _documents_shown(project_id).order_by("-created_at", "id"),
    project_id=uuid.UUID,
)
_DOCUMENT_COUNT = PreparedQuery(
    lambda project_id: _count(_documents_shown(project_id), by="project"), project_id=uuid.UUID
)
# A search's: the query is the same SQL whatever the words (they are its
# parameters) on PostgreSQL only; SQLite's has a condition per word.
_DOCUMENT_HITS = PreparedQuery(
    lambda project_id, q: search.matching(_documents_shown(project_id), q),
    project_id=uuid.UUID,
    q=str,
)
_DOCUMENT_HIT_COUNT = PreparedQuery(
    lambda project_id, q: _count(search.hits(_documents_shown(project_id), q), by="project"),
    project_id=uuid.UUID,
    q=str,
)


def document_pages(*, project: Project, q: str = "") -> PreparedPages | QuerySet[Document]:
    """``document_list`` for a paginator, with only what a document's
    representation shows: the count and each page a prepared query (see
    ``ingest.prepared``), but for a search on SQLite. A search's three ORM
    queries (count, page, snippets) took 2 ms of its 9 in process to compile.
    """
    q = search.clean(q)
    if not q:
        rows, count, values = _DOCUMENT_PAGE, _DOCUMENT_COUNT, {"project_id": project.pk}
    elif search.full_text():
        rows, count = _DOCUMENT_HITS, _DOCUMENT_HIT_COUNT
        values = {"project_id": project.pk, "q": q}
    else:
        return search.matching(_documents_shown(project.pk), q)
    return PreparedPages(rows, lambda: count.first(**values) or 0, **values)


def search_query(raw: str) -> str:
    return search.clean(raw)


def document_snippets(*, documents: list[Document], q: str) -> list[Document]:
    """Sets ``snippet`` on each document of a page of search hits (one query)."""
    return search.attach_snippets(documents, search.clean(q))


def document_get(*, project: Project, document_id) -> Document:
    document = (
        Document.objects.filter(project=project, pk=_uuid(document_id))
        .select_related("source_file", "job")
        .defer("search")
        .first()
    )
    if document is None:
        raise NotFound()
    return document


def document_chunks(*, document: Document) -> QuerySet[Chunk]:
    return document.chunks.defer("search").order_by("index")


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
