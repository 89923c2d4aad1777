"""Every API endpoint and dashboard page makes a fixed number of queries.

Each test calls an endpoint on a small world and on a larger one (a fuller
page, more files per job, more events per job, more projects or members) and
requires the same count for both, under a fixed ceiling: the cost of a call
must not grow with what it shows. API calls authenticate with a real token, so
the token lookup is counted too; dashboard calls use a real session.
"""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ingest.models import Chunk, DocumentSource, FileStatus, Role
from ingest.search import index
from jobs.models import JobEvent, JobStatus
from tests.conftest import is_postgres
from tests.factories import (
    DocumentFactory,
    IngestFileFactory,
    IngestJobFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

SMALL, LARGE = 1, 10  # rows per page, files per job, events per job, projects, members
# On PostgreSQL a transition's UPDATE, the job's refresh and the audit event
# are one statement (jobs.writes); elsewhere they are three, in a savepoint of
# the test's transaction (SAVEPOINT and RELEASE count too): four queries more.
TRANSITION = 1 if is_postgres() else 5


@pytest.fixture
def flat(django_assert_max_num_queries):
    """``flat(limit, small_call, large_call)``: both calls answer below 400
    with the same number of queries, at most ``limit``."""

    def check(limit: int, *calls):
        counts = []
        for call in calls:
            with django_assert_max_num_queries(limit) as queries:
                response = call()
            assert response.status_code < 400, response.content[:500]
            counts.append(len(queries))
        assert len(set(counts)) == 1, f"queries grew with the data: {counts}"
        return counts[0]

    return check


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def session_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def owned_project(user, name=None):
    # Names are unique: the factory's own sequence unless one is given.
    project = ProjectFactory(created_by=user, **({"name": name} if name else {}))
    MembershipFactory(project=project, user=user, role=Role.OWNER)
    return project


def finished_job(project, *, files: int, events: int, status=JobStatus.COMPLETED):
    """A job with ``files`` done files, each with its document, and ``events`` audit events."""
    job = IngestJobFactory(project=project, status=status, items_total=files, items_done=files)
    for _ in range(files):
        done = IngestFileFactory(job=job, status=FileStatus.DONE, chunks=1)
        document = DocumentFactory(project=project, job=job, source_file=done, chunk_count=1)
        DocumentSource.objects.create(document=document, file=done)
    kind = ContentType.objects.get_for_model(job)
    JobEvent.objects.bulk_create(
        JobEvent(
            content_type=kind,
            job_id=job.pk,
            from_status=JobStatus.QUEUED,
            to_status=status,
            action="note",
            actor=project.created_by,
        )
        for _ in range(events)
    )
    return job


def documents_with_chunks(project, count: int, *, text="harbour lights at night"):
    documents = DocumentFactory.create_batch(count, project=project, chunk_count=2)
    Chunk.objects.bulk_create(
        index.chunk(document=d, index=i, text=f"{text} {i}", start=i * 30, end=i * 30 + 30)
        for d in documents
        for i in range(2)
    )
    return documents


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def small(owner):
    project = owned_project(owner, "small")
    job = finished_job(project, files=SMALL, events=SMALL)
    documents_with_chunks(project, SMALL)
    return project, job


@pytest.fixture
def large(owner):
    project = owned_project(owner, "large")
    jobs = [finished_job(project, files=LARGE, events=LARGE) for _ in range(3)]
    for _ in range(LARGE - 3):
        IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    for _ in range(LARGE):
        member = MembershipFactory(project=project, role=Role.VIEWER)
        owned_project(member.user)  # other people's projects do not count
    documents_with_chunks(project, LARGE)
    return project, jobs[0]


def api_jobs(project, job=None, suffix=""):
    base = f"/api/projects/{project.pk}/ingest/jobs/"
    return f"{base}{job.pk}/{suffix}" if job else base


# --- API ---------------------------------------------------------------------------------
# The token clients' token and membership are one query (ingest.api.authentication).


def test_api_projects_list_and_create(flat, owner, small, large):
    client = token_client(owner)
    flat(3, lambda: client.get("/api/projects/"))
    for n in range(LARGE):
        owned_project(owner, f"more {n}")
    flat(3, lambda: client.get("/api/projects/"))
    flat(
        6,
        lambda: client.post("/api/projects/", {"name": "one"}, format="json"),
        lambda: client.post("/api/projects/", {"name": "two"}, format="json"),
    )


def test_api_members_list_and_add(flat, owner, small, large):
    client = token_client(owner)
    pairs = (small, large)
    flat(3, *(lambda p=p: client.get(f"/api/projects/{p.pk}/members/") for p, _ in pairs))
    newcomers = [UserFactory().username for _ in pairs]
    flat(
        11,
        *(
            lambda p=p, name=name: client.post(
                f"/api/projects/{p.pk}/members/",
                {"username": name, "role": "viewer"},
                format="json",
            )
            for (p, _), name in zip(pairs, newcomers, strict=True)
        ),
    )


def test_api_job_list_detail_and_events(flat, owner, small, large):
    client = token_client(owner)
    pairs = (small, large)
    flat(3, *(lambda p=p: client.get(api_jobs(p)) for p, _ in pairs))
    # The detail adds its per-file results to the row, and the jobs retrying
    # it when there are any.
    flat(3, *(lambda p=p, j=j: client.get(api_jobs(p, j)) for p, j in pairs))
    for (p, j), retries in zip(pairs, (SMALL, LARGE), strict=True):
        IngestJobFactory.create_batch(retries, project=p, retry_of_id=j.pk)
    flat(4, *(lambda p=p, j=j: client.get(api_jobs(p, j)) for p, j in pairs))
    flat(4, *(lambda p=p, j=j: client.get(api_jobs(p, j, "events/")) for p, j in pairs))


def test_api_job_create_does_not_grow_with_files(flat, owner, small):
    client = token_client(owner)
    project, _ = small

    def upload(count):
        files = [SimpleUploadedFile(f"n{i}.txt", b"Some words.\n") for i in range(count)]
        return client.post(api_jobs(project), {"files": files}, format="multipart")

    # The answer is the job's detail, with the jobs retrying it (none yet).
    flat(11, lambda: upload(1), lambda: upload(LARGE))


def test_api_cancel_delete_and_cleanup(flat, owner, small, large):
    client = token_client(owner)
    running = [
        finished_job(p, files=n, events=n, status=JobStatus.RUNNING)
        for (p, _), n in ((small, SMALL), (large, LARGE))
    ]
    flat(
        4 + TRANSITION,  # the answer is the job's detail
        *(
            lambda j=j: client.post(api_jobs(j.project, j, "cancel/"), {}, format="json")
            for j in running
        ),
    )
    finished = [
        finished_job(p, files=n, events=n) for (p, _), n in ((small, SMALL), (large, LARGE))
    ]
    # With the row's note that its uploads are gone (no retry offered then).
    flat(
        16,
        *(
            lambda j=j: client.post(
                api_jobs(j.project, j, "cleanup/"), {"documents": True}, format="json"
            )
            for j in finished
        ),
    )
    flat(2 + TRANSITION, *(lambda j=j: client.delete(api_jobs(j.project, j)) for j in finished))


def test_api_documents_list_search_detail_and_chunks(flat, owner, small, large):
    client = token_client(owner)
    pairs = (small, large)

    def docs(project, suffix="", **params):
        return lambda: client.get(f"/api/projects/{project.pk}/documents/{suffix}", params)

    flat(3, *(docs(p) for p, _ in pairs))
    # A search's count and its page, whose rows bring their snippets' passages.
    assert flat(3, *(docs(p, q="harbour") for p, _ in pairs)) == 3
    document = {p.pk: p.documents.first() for p, _ in pairs}
    flat(2, *(docs(p, f"{document[p.pk].pk}/") for p, _ in pairs))
    flat(4, *(docs(p, f"{document[p.pk].pk}/chunks/") for p, _ in pairs))


# --- dashboard ---------------------------------------------------------------------------


def page(name, project=None, job=None, **kwargs):
    if project is not None:
        kwargs["project_id"] = project.pk
    if job is not None:
        kwargs["job_id"] = job.pk
    return reverse(f"ingest:{name}", kwargs=kwargs)


def test_dashboard_pages(flat, owner, small, large):
    client = session_client(owner)
    pairs = (small, large)
    flat(3, lambda: client.get(page("project-list")))
    flat(6, *(lambda p=p: client.get(page("project-detail", p)) for p, _ in pairs))
    # The job page links the jobs retrying it and asks whether anything is left to retry.
    flat(12, *(lambda p=p, j=j: client.get(page("job-detail", p, j)) for p, j in pairs))
    htmx = {"HTTP_HX_REQUEST": "true"}
    flat(11, *(lambda p=p, j=j: client.get(page("job-detail", p, j), **htmx) for p, j in pairs))
    flat(4, *(lambda p=p, j=j: client.get(page("job-row", p, j)) for p, j in pairs))
    flat(6, *(lambda p=p: client.get(page("document-list", p)) for p, _ in pairs))
    search = (lambda p=p: client.get(page("document-list", p), {"q": "harbour"}) for p, _ in pairs)
    assert flat(6, *search) == 6
    flat(
        9,
        *(
            lambda p=p: client.get(page("document-detail", p, document_id=p.documents.first().pk))
            for p, _ in pairs
        ),
    )


def test_dashboard_actions(flat, owner, small, large):
    client = session_client(owner)
    accept = {"HTTP_HX_REQUEST": "true"}
    pairs = ((small, SMALL), (large, LARGE))
    running = [finished_job(p, files=n, events=n, status=JobStatus.RUNNING) for (p, _), n in pairs]
    flat(
        4 + TRANSITION,
        *(lambda j=j: client.post(page("job-cancel", j.project, j), **accept) for j in running),
    )
    finished = [finished_job(p, files=n, events=n) for (p, _), n in pairs]
    flat(
        12,  # with the row's note that its uploads are gone
        *(lambda j=j: client.post(page("job-cleanup", j.project, j), **accept) for j in finished),
    )
    flat(
        5 + TRANSITION,  # the deleted job read again, for the purge time the answer gives
        *(lambda j=j: client.post(page("job-delete", j.project, j), **accept) for j in finished),
    )
    project = small[0]

    def upload(count):
        files = [SimpleUploadedFile(f"n{i}.txt", b"Some words.\n") for i in range(count)]
        return client.post(page("job-create", project), {"files": files}, **accept)

    flat(10, lambda: upload(1), lambda: upload(LARGE))
