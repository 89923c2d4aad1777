"""The dashboard through Django's test client: every page and action, and
every refusal (role, state, membership, CSRF)."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import AsyncClient, Client
from django.urls import reverse

from ingest import stream
from ingest.models import Chunk, DocumentSource, FileStatus, IngestJob, Project, Role
from ingest.search import index
from jobs import events, lifecycle
from jobs.models import JobStatus
from tests.conftest import member
from tests.factories import (
    DocumentFactory,
    IngestFileFactory,
    IngestJobFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def hx_event(response, name: str) -> dict:
    """The HX-Trigger event the page's script follows."""
    return json.loads(response["HX-Trigger"])[name]


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name, project, job=None, **kwargs) -> str:
    kwargs["project_id"] = project.pk
    if job is not None:
        kwargs["job_id"] = job.pk
    return reverse(f"ingest:{name}", kwargs=kwargs)


def text_upload(name="notes.txt", content=b"Some words to ingest.\n"):
    return SimpleUploadedFile(name, content, content_type="text/plain")


def field_error(response, field: str) -> str:
    """The refusal a field's error slot shows, from an htmx answer."""
    html = response.content.decode()
    slot = html.split(f'data-error-for="{field}"', 1)[1]
    return slot.split(">", 1)[1].split("</p>", 1)[0]


def job_in(project, status, **fields):
    return IngestJobFactory(project=project, status=status, **fields)


# --- pages ---------------------------------------------------------------------


def test_pages_send_anonymous_visitors_to_the_login_page(project):
    response = Client().get(url("project-detail", project))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("ingest:login"))


def test_login_page_logs_a_user_in(user):
    client = Client()
    assert client.get(reverse("ingest:login")).status_code == 200
    response = client.post(
        reverse("ingest:login"), {"username": user.username, "password": "password"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("ingest:project-list")


def test_project_list_shows_own_projects_with_job_counts(user, project):
    job_in(project, JobStatus.RUNNING)
    job_in(project, JobStatus.COMPLETED)
    job_in(project, JobStatus.FAILED)
    lifecycle.soft_delete(job_in(project, JobStatus.COMPLETED))
    hidden = ProjectFactory(name="Somebody else's")

    response = browser(user).get(reverse("ingest:project-list"))

    assert response.status_code == 200
    listed = {p.pk: p for p in response.context["nav_projects"]}
    assert (listed[project.pk].active_jobs, listed[project.pk].finished_jobs) == (1, 2)
    assert hidden.name not in response.content.decode()


def test_creating_a_project_makes_the_user_its_owner(user):
    response = browser(user).post(reverse("ingest:project-list"), {"name": "  Reports  "})

    project = Project.objects.get(name="Reports")
    assert response.status_code == 302
    assert response["Location"] == url("project-detail", project)
    assert project.memberships.get(user=user).role == Role.OWNER


def test_creating_a_project_without_a_name_says_so(user):
    response = browser(user).post(reverse("ingest:project-list"), {"name": "   "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Project.objects.exists()


def test_project_page_lists_jobs_newest_first_with_write_buttons_for_members(user, project):
    older = job_in(project, JobStatus.COMPLETED, name="older job")
    newer = job_in(project, JobStatus.RUNNING, name="newer job")

    response = browser(user).get(url("project-detail", project))

    html = response.content.decode()
    assert response.status_code == 200
    assert list(response.context["jobs"]) == [newer, older]
    assert 'id="upload-form"' in html
    assert html.count("data-open-dialog=") == 4  # cancel and delete on each row
    assert '<dialog id="cancel-dialog"' in html
    assert "data-stream-new" in html


def test_viewer_sees_jobs_but_no_upload_form_and_no_write_buttons(project):
    viewer = member(project, Role.VIEWER)
    job_in(project, JobStatus.RUNNING, name="visible job")
    job_in(project, JobStatus.COMPLETED)

    html = browser(viewer).get(url("project-detail", project)).content.decode()

    assert "visible job" in html
    assert "upload-form" not in html
    assert "data-open-dialog" not in html
    assert "<dialog" not in html
    assert "read only" in html


def test_project_page_is_not_found_for_non_members_and_malformed_ids(project):
    outsider = browser(UserFactory())
    response = outsider.get(url("project-detail", project))
    assert response.status_code == 404
    assert "No such project here, or you are not a member of it." in response.content.decode()
    assert outsider.get("/projects/not-a-uuid/").status_code == 404


def test_job_list_filters_by_status_and_ignores_unknown_ones(user, project):
    running = job_in(project, JobStatus.RUNNING)
    job_in(project, JobStatus.COMPLETED)
    client = browser(user)

    filtered = client.get(url("project-detail", project), {"status": "running"})
    unknown = client.get(url("project-detail", project), {"status": "bogus"})

    assert list(filtered.context["jobs"]) == [running]
    assert "data-stream-new" not in filtered.content.decode()
    assert len(unknown.context["jobs"]) == 2


def test_job_list_is_paginated_and_hides_deleted_jobs(user, project):
    jobs = [job_in(project, JobStatus.COMPLETED) for _ in range(27)]
    lifecycle.soft_delete(jobs[0])
    client = browser(user)

    first = client.get(url("project-detail", project))
    second = client.get(url("project-detail", project), {"page": 2})

    assert len(first.context["jobs"]) == 25
    assert first.context["jobs"].paginator.count == 26
    assert len(second.context["jobs"]) == 1
    assert jobs[0] not in list(first.context["jobs"]) + list(second.context["jobs"])
    assert "data-stream-new" not in second.content.decode()
    assert "Page 2 of 2" in second.content.decode()


def finished_job_with_results(project, user):
    job = job_in(project, JobStatus.COMPLETED, name="results job", items_total=3, items_done=3)
    lifecycle.record_created(job, actor=user)
    done = IngestFileFactory(job=job, name="a.txt", status=FileStatus.DONE, chunks=2)
    IngestFileFactory(job=job, name="b.txt", status=FileStatus.FAILED, error="b.txt is not UTF-8")
    IngestFileFactory(job=job, name="c.txt")
    document = DocumentFactory(project=project, job=job, title="Alpha document", chunk_count=2)
    DocumentSource.objects.create(document=document, file=done)
    return job, document


def test_job_page_shows_files_documents_and_audit_trail(user, project):
    job, document = finished_job_with_results(project, user)

    response = browser(user).get(url("job-detail", project, job))

    html = response.content.decode()
    assert response.status_code == 200
    assert "results job" in html
    assert "b.txt is not UTF-8" in html
    assert "Not reached" in html and "Failed" in html and "Done" in html
    assert url("document-detail", project, document_id=document.pk) in html
    assert "Alpha document" in html
    assert "Create" in html and user.username in html  # the audit trail's first event
    assert 'id="cleanup-dialog"' in html


def test_job_panel_refresh_returns_the_panel_and_says_when_the_job_is_gone(user, project):
    job = job_in(project, JobStatus.COMPLETED)
    client = browser(user)

    panel = client.get(url("job-detail", project, job), HTTP_HX_REQUEST="true")
    lifecycle.soft_delete(job)
    gone = client.get(url("job-detail", project, job), HTTP_HX_REQUEST="true")
    page = client.get(url("job-detail", project, job))

    assert panel.status_code == 200
    assert panel.content.decode().lstrip().startswith('<div id="job-panel"')
    assert "<html" not in panel.content.decode()
    assert gone.status_code == 200
    assert "This job was deleted." in gone.content.decode()
    assert page.status_code == 404


def test_job_row_renders_one_row_and_nothing_once_deleted(user, project):
    job = job_in(project, JobStatus.RUNNING, name="row job")
    deleted = job_in(project, JobStatus.COMPLETED)
    lifecycle.soft_delete(deleted)
    client = browser(user)

    row = client.get(url("job-row", project, job))
    gone = client.get(url("job-row", project, deleted))

    html = row.content.decode()
    assert html.lstrip().startswith(f'<tr id="job-{job.pk}"')
    assert "every 2s" in html  # an active row polls when the stream is down
    assert "Cancel" in html
    assert (gone.status_code, gone.content) == (200, b"")


def test_finished_row_does_not_poll_and_viewer_row_has_no_buttons(project):
    viewer = member(project, Role.VIEWER)
    job = job_in(project, JobStatus.COMPLETED)
    html = browser(viewer).get(url("job-row", project, job)).content.decode()
    assert "every 2s" not in html
    assert "<button" not in html


# --- upload ----------------------------------------------------------------------


def test_upload_creates_a_queued_job_and_answers_with_a_notice_and_an_event(user, project):
    response = browser(user).post(
        url("job-create", project),
        {"files": [text_upload("a.txt"), text_upload("b.md", b"# B")], "chunk_size": "80"},
        **HTMX,
    )

    assert response.status_code == 201, response.content
    created = hx_event(response, "ingest:done")
    job = IngestJob.objects.get(pk=created["job"])
    assert (job.status, job.items_total, job.chunk_size, job.created_by) == (
        JobStatus.QUEUED,
        2,
        80,
        user,
    )
    assert created["action"] == "create"
    assert response["HX-Retarget"] == "#notices"
    assert "created with 2 files; it is queued" in response.content.decode()


def test_upload_without_javascript_redirects_to_the_project(user, project):
    client = browser(user)
    response = client.post(url("job-create", project), {"files": [text_upload()]}, follow=True)
    assert response.redirect_chain[-1][0] == url("project-detail", project)
    assert "it is queued" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({}, "files", "Attach one or more files."),
        ({"chunk_size": "10"}, "chunk_size", "Chunk size must be between 50 and 100000"),
        ({"chunk_size": "lots"}, "chunk_size", "Chunk size must be a whole number"),
        ({"chunk_size": "100", "chunk_overlap": "90"}, "chunk_overlap", "Chunk overlap must be"),
    ],
)
def test_upload_field_errors_come_back_in_words_for_that_field(user, project, data, field, words):
    if field != "files":
        data["files"] = [text_upload()]
    response = browser(user).post(url("job-create", project), data, **HTMX)

    assert response.status_code == 400
    assert "ingest:refused" in json.loads(response["HX-Trigger"])
    message = field_error(response, field)
    assert message.startswith(words)
    assert "_" not in message.split(" must")[0]
    assert not IngestJob.objects.exists()


def test_upload_of_an_unsupported_type_is_refused_with_415(user, project):
    fake = SimpleUploadedFile("scan.pdf", b"this is not a pdf")
    response = browser(user).post(url("job-create", project), {"files": [fake]}, **HTMX)
    assert response.status_code == 415
    assert "scan.pdf" in field_error(response, "files")


def test_upload_over_the_size_limit_is_refused_with_413(user, project, settings):
    settings.INGEST_MAX_FILE_BYTES = 1000
    big = text_upload("big.txt", b"x" * 5000)
    response = browser(user).post(url("job-create", project), {"files": [big]}, **HTMX)
    assert response.status_code == 413
    assert "big.txt" in field_error(response, "files")
    assert "1000 bytes" in field_error(response, "files")


def test_upload_of_too_many_files_is_refused_in_words_as_it_arrives(user, project, settings):
    settings.INGEST_MAX_FILES = 2
    files = [text_upload(f"f{i}.txt") for i in range(4)]
    response = browser(user).post(url("job-create", project), {"files": files}, **HTMX)
    assert response.status_code == 400
    assert field_error(response, "files") == "More than 2 files sent; a job takes at most 2."
    assert not IngestJob.objects.exists()


def test_upload_error_without_javascript_is_shown_next_to_the_field(user, project):
    response = browser(user).post(
        url("job-create", project), {"files": [text_upload()], "chunk_size": "10"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-error-for="chunk_size" role="alert">Chunk size must be between' in html
    assert '<details class="options" open' in html


def test_viewer_cannot_upload(project):
    viewer = member(project, Role.VIEWER)
    response = browser(viewer).post(url("job-create", project), {"files": [text_upload()]}, **HTMX)
    assert response.status_code == 403
    assert response.content.decode().startswith("Viewers can read this project")
    assert not IngestJob.objects.exists()


def test_non_member_upload_is_not_found(project):
    response = browser(UserFactory()).post(
        url("job-create", project), {"files": [text_upload()]}, **HTMX
    )
    assert response.status_code == 404
    assert response.content.decode() == "No such project here, or you are not a member of it."
    assert not IngestJob.objects.exists()


def test_writes_need_the_csrf_token(user, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(url("project-detail", project))  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    refused = client.post(url("job-create", project), {"files": [text_upload()]}, **HTMX)
    accepted = client.post(
        url("job-create", project), {"files": [text_upload()]}, HTTP_X_CSRFTOKEN=token, **HTMX
    )

    assert refused.status_code == 403
    assert accepted.status_code == 201


def test_actions_refuse_get(user, project):
    job = job_in(project, JobStatus.RUNNING)
    client = browser(user)
    for name in ("job-cancel", "job-delete", "job-cleanup"):
        assert client.get(url(name, project, job)).status_code == 405
    assert client.get(url("job-create", project)).status_code == 405


# --- cancel ----------------------------------------------------------------------


def test_cancel_of_a_queued_job_cancels_it_at_once(user, project):
    job = job_in(project, JobStatus.QUEUED)
    response = browser(user).post(
        url("job-cancel", project, job), {"reason": "wrong files"}, **HTMX
    )

    job.refresh_from_db()
    assert response.status_code == 200
    assert hx_event(response, "ingest:done") == {"job": str(job.pk), "action": "cancel"}
    assert "cancelled before it started" in response.content.decode()
    assert job.status == JobStatus.CANCELLED
    event = lifecycle.events_for(job).last()
    assert (event.actor, event.reason) == (user, "wrong files")


def test_cancel_of_a_running_job_asks_the_worker_to_stop(user, project):
    job = job_in(project, JobStatus.RUNNING)
    response = browser(user).post(url("job-cancel", project, job), **HTMX)

    job.refresh_from_db()
    assert hx_event(response, "ingest:done") == {"job": str(job.pk), "action": "cancel"}
    assert "keeps the files it has finished" in response.content.decode()
    assert (job.status, job.cancel_requested_by) == (JobStatus.CANCELLING, user)


def test_cancel_of_a_finished_job_is_refused_in_words(user, project):
    job = job_in(project, JobStatus.COMPLETED)
    response = browser(user).post(url("job-cancel", project, job), **HTMX)
    assert response.status_code == 409
    assert response.content.decode() == "Job already completed; nothing to cancel."


def test_viewer_cannot_cancel(project):
    viewer = member(project, Role.VIEWER)
    job = job_in(project, JobStatus.RUNNING)
    response = browser(viewer).post(url("job-cancel", project, job), **HTMX)
    job.refresh_from_db()
    assert response.status_code == 403
    assert job.status == JobStatus.RUNNING


def test_viewer_refusal_without_javascript_is_a_page_in_words(project):
    viewer = member(project, Role.VIEWER)
    job = job_in(project, JobStatus.RUNNING)
    response = browser(viewer).post(url("job-cancel", project, job))
    assert response.status_code == 403
    assert "Viewers can read this project but not change anything" in response.content.decode()


def test_cancel_without_javascript_redirects_back_with_a_message(user, project):
    job = job_in(project, JobStatus.RUNNING)
    back = url("project-detail", project)
    response = browser(user).post(url("job-cancel", project, job), {"next": back}, follow=True)
    assert response.redirect_chain[-1][0] == back
    assert "stops at its next checkpoint" in response.content.decode()


def test_cancel_ignores_a_next_url_on_another_site(user, project):
    job = job_in(project, JobStatus.RUNNING)
    response = browser(user).post(
        url("job-cancel", project, job), {"next": "https://evil.example/"}
    )
    assert response["Location"] == url("job-detail", project, job)


def test_cancel_of_another_projects_job_is_not_found(user, project):
    elsewhere = job_in(ProjectFactory(), JobStatus.RUNNING)
    response = browser(user).post(
        reverse("ingest:job-cancel", kwargs={"project_id": project.pk, "job_id": elsewhere.pk}),
        **HTMX,
    )
    elsewhere.refresh_from_db()
    assert response.status_code == 404
    assert elsewhere.status == JobStatus.RUNNING


# --- delete ----------------------------------------------------------------------


def test_delete_of_a_finished_job_hides_it_and_keeps_its_documents(user, project):
    job = job_in(project, JobStatus.COMPLETED)
    document = DocumentFactory(project=project, job=job)

    response = browser(user).post(url("job-delete", project, job), **HTMX)

    assert response.status_code == 200
    assert hx_event(response, "ingest:done") == {"job": str(job.pk), "action": "delete"}
    assert "Job “" in response.content.decode()
    assert not IngestJob.objects.filter(pk=job.pk).exists()
    assert IngestJob.all_objects.get(pk=job.pk).deleted_at is not None
    assert document.__class__.objects.filter(pk=document.pk).exists()
    listed = browser(user).get(url("project-detail", project)).context["jobs"]
    assert job not in list(listed)


def test_delete_from_the_jobs_own_page_sends_the_browser_to_the_project(user, project):
    job = job_in(project, JobStatus.COMPLETED)
    client = browser(user)
    response = client.post(
        url("job-delete", project, job), {"next": url("job-detail", project, job)}, **HTMX
    )

    assert response["HX-Redirect"] == url("project-detail", project)
    notice = client.get(url("project-detail", project)).content.decode()
    assert f"Job “{job.name}” deleted." in notice


def test_delete_of_a_running_job_says_cancel_first(user, project):
    job = job_in(project, JobStatus.RUNNING)
    response = browser(user).post(url("job-delete", project, job), **HTMX)
    assert response.status_code == 409
    assert response.content.decode() == (
        "The job is running: cancel it first, and delete it once it has stopped."
    )
    assert IngestJob.objects.get(pk=job.pk).deleted_at is None


def test_delete_of_a_deleted_job_is_not_found(user, project):
    job = job_in(project, JobStatus.FAILED)
    lifecycle.soft_delete(job)
    response = browser(user).post(url("job-delete", project, job), **HTMX)
    assert response.status_code == 404
    assert response.content.decode().startswith("This job no longer exists")
    assert hx_event(response, "ingest:refused") == {"gone": {"job": str(job.pk)}}


def test_viewer_cannot_delete(project):
    viewer = member(project, Role.VIEWER)
    job = job_in(project, JobStatus.COMPLETED)
    response = browser(viewer).post(url("job-delete", project, job), **HTMX)
    assert response.status_code == 403
    assert IngestJob.objects.filter(pk=job.pk).exists()


# --- cleanup ---------------------------------------------------------------------


def test_cleanup_removes_stored_files_then_finds_nothing_left(user, project):
    job = job_in(project, JobStatus.COMPLETED)
    IngestFileFactory(job=job, content=b"twelve bytes")
    client = browser(user)

    first = client.post(url("job-cleanup", project, job), **HTMX)
    second = client.post(url("job-cleanup", project, job), **HTMX)

    assert first.status_code == 200
    assert hx_event(first, "ingest:done") == {"job": str(job.pk), "action": "cleanup"}
    assert "Stored files removed: 1<" in first.content.decode()
    assert "Space freed: 12\xa0bytes<" in first.content.decode()
    assert first.context["detail"].startswith(
        "Removed 1 stored file(s) and 0 work directory (12 bytes freed)"
    )
    assert "Stored files removed: 0<" in second.content.decode()
    assert second.context["detail"] == "Nothing to remove: this job was already cleaned up."


def test_cleanup_with_documents_removes_the_documents_only_this_job_produced(user, project):
    job = job_in(project, JobStatus.CANCELLED)
    source = IngestFileFactory(job=job)
    document = DocumentFactory(project=project, job=job, chunk_count=1)
    DocumentSource.objects.create(document=document, file=source)
    Chunk.objects.create(document=document, index=0, text="x", start=0, end=1)

    response = browser(user).post(url("job-cleanup", project, job), {"documents": "true"}, **HTMX)

    assert "Documents removed: 1<" in response.content.decode()
    assert not document.__class__.objects.filter(pk=document.pk).exists()


def test_cleanup_of_a_running_job_is_refused(user, project):
    job = job_in(project, JobStatus.RUNNING)
    response = browser(user).post(url("job-cleanup", project, job), **HTMX)
    assert response.status_code == 409
    assert "cancel it, or wait until it finishes" in response.content.decode()


def test_viewer_cannot_clean_up(project):
    viewer = member(project, Role.VIEWER)
    job = job_in(project, JobStatus.COMPLETED)
    IngestFileFactory(job=job)
    response = browser(viewer).post(url("job-cleanup", project, job), **HTMX)
    assert response.status_code == 403
    assert lifecycle.events_for(job).filter(action="cleanup").count() == 0


# --- documents -------------------------------------------------------------------


def test_document_list_searches_titles_and_text(user, project):
    DocumentFactory(project=project, title="Quarterly ledger")
    other = DocumentFactory(project=project, title="Untitled")
    index.chunk(document=other, index=0, text="the harbour at night", start=0, end=20).save()
    DocumentFactory(project=ProjectFactory(), title="Foreign ledger")
    client = browser(user)

    everything = client.get(url("document-list", project))
    by_title = client.get(url("document-list", project), {"q": "ledger"})
    by_text = client.get(url("document-list", project), {"q": "harbour"})

    assert len(everything.context["documents"]) == 2
    assert [d.title for d in by_title.context["documents"]] == ["Quarterly ledger"]
    assert [d.title for d in by_text.context["documents"]] == ["Untitled"]


def test_document_page_shows_its_chunks_in_order_paginated(user, project):
    document = DocumentFactory(project=project, title="Long one", chunk_count=60)
    Chunk.objects.bulk_create(
        Chunk(document=document, index=i, text=f"chunk text {i}", start=i, end=i + 1)
        for i in reversed(range(60))
    )
    client = browser(user)

    first = client.get(url("document-detail", project, document_id=document.pk))
    second = client.get(url("document-detail", project, document_id=document.pk), {"page": 2})

    assert [c.index for c in first.context["chunks"]] == list(range(50))
    assert [c.index for c in second.context["chunks"]] == list(range(50, 60))
    assert "chunk text 0" in first.content.decode()


def test_document_of_another_project_is_not_found(user, project):
    foreign = DocumentFactory(project=ProjectFactory())
    response = browser(user).get(url("document-detail", project, document_id=foreign.pk))
    assert response.status_code == 404
    assert browser(UserFactory()).get(url("document-list", project)).status_code == 404


# --- live stream ---------------------------------------------------------------


async def next_frame(stream) -> str:
    """The next event frame, skipping comments (keep-alives)."""
    while True:
        chunk = await asyncio.wait_for(anext(stream), timeout=10)
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        if "event: job" in text:
            return text


def frame_data(frame: str) -> dict:
    line = next(line for line in frame.splitlines() if line.startswith("data: "))
    return json.loads(line.removeprefix("data: "))


def test_stream_relays_only_the_jobs_the_page_shows(user, project):
    shown = job_in(project, JobStatus.RUNNING)
    hidden = job_in(project, JobStatus.RUNNING)

    @async_to_sync
    async def scenario():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(url("project-events", project), {"jobs": f"{shown.pk},junk"})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/event-stream"
        stream = response.streaming_content
        assert "retry:" in (await anext(stream)).decode()  # subscribed from here on
        events.publish_progress(hidden)
        events.publish_progress(shown)
        data = frame_data(await next_frame(stream))
        await stream.aclose()
        return data

    data = scenario()
    assert (data["job"], data["type"], data["status"]) == (str(shown.pk), "progress", "running")


def test_stream_follows_new_jobs_when_asked(user, project):
    @async_to_sync
    async def scenario():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(url("project-events", project), {"jobs": "", "new": "1"})
        stream = response.streaming_content
        await anext(stream)
        created = await IngestJob.objects.acreate(
            project=project, name="new one", chunk_size=100, chunk_overlap=0
        )
        events.publish_transition(created, "", "queued", "create")
        first = frame_data(await next_frame(stream))
        events.publish_progress(created)
        second = frame_data(await next_frame(stream))
        await stream.aclose()
        return created, first, second

    created, first, second = scenario()
    assert (first["job"], first["action"]) == (str(created.pk), "create")
    assert (second["job"], second["type"]) == (str(created.pk), "progress")


def test_stream_is_refused_to_anonymous_users_and_non_members(project):
    @async_to_sync
    async def scenario():
        anonymous = await AsyncClient().get(url("project-events", project))
        outsider = AsyncClient()
        await outsider.aforce_login(await get_user_model().objects.acreate(username="outsider"))
        refused = await outsider.get(url("project-events", project))
        return anonymous.status_code, refused.status_code

    assert scenario() == (403, 404)


def test_stream_says_live_updates_are_unavailable_when_redis_is_down(user, project, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    @async_to_sync
    async def scenario():
        client = AsyncClient()
        await client.aforce_login(user)
        return await client.get(url("project-events", project))

    response = scenario()
    assert response.status_code == 503
    assert response.content == b"Live updates are unavailable."


async def end(response) -> None:
    """Read a stream's first frame, then close the response, as the server
    does once its client went away."""
    frames = response.streaming_content
    await anext(frames)
    await frames.aclose()
    # As Django's test client closes a response: the test's connection stays open.
    request_finished.disconnect(close_old_connections)
    try:
        await sync_to_async(response.close)()
    finally:
        request_finished.connect(close_old_connections)


def test_a_user_holds_at_most_the_streams_the_setting_allows(user, project, settings):
    settings.INGEST_MAX_STREAMS_PER_USER = 2
    other = member(project, Role.VIEWER)

    @async_to_sync
    async def scenario():
        client, others = AsyncClient(), AsyncClient()
        await client.aforce_login(user)
        await others.aforce_login(other)
        held = [await client.get(url("project-events", project)) for _ in range(2)]
        refused = await client.get(url("project-events", project))
        someone_else = await others.get(url("project-events", project))
        await end(held[0])  # its place is free again
        again = await client.get(url("project-events", project))
        for response in (held[1], someone_else, again):
            await end(response)
        return [r.status_code for r in held], refused, someone_else.status_code, again.status_code

    held, refused, someone_else, again = scenario()
    assert held == [200, 200]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "30"
    assert refused.content.decode().startswith("You follow 2 live pages already; close one")
    assert (someone_else, again) == (200, 200)
    assert not stream.open_streams.held  # every place given back
