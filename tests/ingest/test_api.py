"""The HTTP API against its table in DESIGN.md: every success and error code,
the error body's one shape, and the job's JSON. No worker runs here: a created
job stays QUEUED (and sits in the real RQ queue)."""

import pytest
from django.conf import settings as configured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.urls import reverse
from rest_framework.test import APIClient
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob

from ingest.models import (
    DocumentSource,
    IdempotencyKey,
    IngestFile,
    IngestJob,
    Project,
    Role,
)
from ingest.search import index as search_index
from jobs import lifecycle
from jobs.models import JobEvent, JobStatus
from tests.conftest import client_for, member
from tests.factories import (
    DocumentFactory,
    IngestFileFactory,
    IngestJobFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CANCEL_FIRST = "cancel the job first, or repeat with ?force=true"
DESIGN_JOB_KEYS = {
    "id",
    "project",
    "name",
    "status",
    "created_at",
    "started_at",
    "finished_at",
    "cancel_requested_at",
    "error",
    "progress",
    "result",
}
# Fields the API adds to the design's example, on purpose: a link, the ETag's
# version, the chunking the job runs with, the force-delete mark, the purge
# time, the links between a job and its retries, and what its status means;
# and what DESIGN.md's "What the representations say" asks: the actions the
# job allows now and, once deleted, the status it had before.
EXTRA_JOB_KEYS = {
    "url",
    "status_note",
    "version",
    "chunk_size",
    "chunk_overlap",
    "delete_requested_at",
    "deleted_at",
    "purge_at",
    "retry_of",
    "retries",
    "actions",
    "status_before_delete",
}


def jobs_url(project) -> str:
    return f"/api/projects/{project.pk}/ingest/jobs/"


def job_url(project, job_id) -> str:
    return f"{jobs_url(project)}{job_id}/"


def text_file(name="notes.txt", content=b"Some plain text to ingest.\n"):
    return SimpleUploadedFile(name, content)


def post_job(client, project, files, headers=None, **data):
    return client.post(
        jobs_url(project), {"files": files, **data}, format="multipart", headers=headers or {}
    )


def assert_error(response, status_code: int, code: str | None = None) -> dict:
    """Every error is JSON of one shape: a sentence to act on, and a code."""
    assert response.status_code == status_code, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]
    assert set(body) <= {"detail", "code", "errors"}
    if code:
        assert body["code"] == code
    return body


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- projects and members ----------------------------------------------------


def test_project_create_makes_the_caller_its_owner(api, user):
    response = api.post("/api/projects/", {"name": "  Research  "}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "Research"
    assert response.json()["role"] == "owner"
    assert user.memberships.get().role == Role.OWNER


def test_project_create_without_a_name_is_a_field_error(api):
    body = assert_error(api.post("/api/projects/", {}, format="json"), 400, "invalid")
    assert body["detail"].startswith("name:")
    assert "name" in body["errors"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/projects/", {"name": "extra", "errors": {}}),
        ("members/", {"username": "someone", "nickname": "x"}),
        ("cancel/", {"reason": "r", "force": True}),
        ("cleanup/", {"documents": True, "everything": True}),
    ],
)
def test_a_body_with_a_key_it_does_not_take_is_refused_naming_it(api, project, path, body):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    urls = {
        "members/": f"/api/projects/{project.pk}/members/",
        "cancel/": f"/api/projects/{project.pk}/ingest/jobs/{job.pk}/cancel/",
        "cleanup/": f"/api/projects/{project.pk}/ingest/jobs/{job.pk}/cleanup/",
    }
    extra = next(key for key in body if key not in ("name", "username", "reason", "documents"))

    response = api.post(urls.get(path, path), body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {extra: [response.json()["errors"][extra][0]]}
    assert response.json()["detail"].startswith(f"{extra}: not a field of this request")
    assert Project.objects.count() == 1


def test_the_schema_says_request_bodies_take_no_other_keys(api):
    components = api.get("/api/schema/?format=json").json()["components"]["schemas"]
    bodies = {name: c for name, c in components.items() if name.endswith("Request")}
    assert len(bodies) >= 5
    assert all(c["additionalProperties"] is False for c in bodies.values())


def test_project_list_shows_only_the_callers_projects(api, project):
    ProjectFactory(name="someone else's")
    response = api.get("/api/projects/")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [str(project.pk)]


def test_unauthenticated_requests_are_refused_with_the_error_shape(project):
    anonymous = APIClient()
    for response in (
        anonymous.get("/api/projects/"),
        anonymous.get(jobs_url(project)),
        anonymous.post(jobs_url(project), {"files": [text_file()]}, format="multipart"),
    ):
        assert response.status_code in (401, 403)
        assert_error(response, response.status_code, "not_authenticated")
    assert not IngestJob.all_objects.exists()


def test_owner_adds_a_member_by_username(api, project):
    newcomer = UserFactory()
    url = f"/api/projects/{project.pk}/members/"
    response = api.post(url, {"username": newcomer.username, "role": "viewer"}, format="json")
    assert response.status_code == 201
    assert response.json()["role"] == "viewer"
    listed = api.get(url).json()["results"]
    assert {m["username"]: m["role"] for m in listed} == {
        project.created_by.username: "owner",
        newcomer.username: "viewer",
    }


def test_only_an_owner_adds_members(project):
    for role in (Role.MEMBER, Role.VIEWER):
        client = client_for(member(project, role))
        response = client.post(
            f"/api/projects/{project.pk}/members/",
            {"username": UserFactory().username, "role": "member"},
            format="json",
        )
        assert_error(response, 403, "permission_denied")


def test_adding_an_unknown_user_is_a_field_error(api, project):
    response = api.post(
        f"/api/projects/{project.pk}/members/", {"username": "nobody-here"}, format="json"
    )
    body = assert_error(response, 400, "invalid")
    assert "nobody-here" in body["detail"]


def test_adding_a_member_with_an_unknown_role_is_a_field_error(api, project):
    response = api.post(
        f"/api/projects/{project.pk}/members/",
        {"username": UserFactory().username, "role": "admin"},
        format="json",
    )
    assert "role" in assert_error(response, 400, "invalid")["errors"]


# --- create --------------------------------------------------------------------


def test_create_answers_201_with_location_and_enqueues_under_the_job_id(
    api, project, redis_conn, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_job(
            api, project, [text_file("a.txt"), text_file("b.md", b"# Title\n\nbody")]
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert response["Location"] == body["url"]
    assert response["Location"].endswith(job_url(project, body["id"]))
    assert response["ETag"] == 'W/"1"'
    assert body["status"] == "queued"
    assert body["name"] == "a.txt and 1 more"
    job = IngestJob.objects.get(pk=body["id"])
    assert [f.name for f in job.files.all()] == ["a.txt", "b.md"]
    assert len(stored_files(settings)) == 2
    rq_job = RQJob.fetch(str(job.pk), connection=redis_conn)
    assert rq_job.args == (str(job.pk),)
    assert rq_job.origin == "ingest"
    assert str(job.pk) in redis_conn.lrange("rq:queue:ingest", 0, -1)[0].decode()


def test_create_takes_name_and_chunking(api, project):
    response = post_job(api, project, [text_file()], name="Q3", chunk_size=500, chunk_overlap=50)
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["chunk_size"], body["chunk_overlap"]) == ("Q3", 500, 50)


def test_create_records_the_first_audit_event(api, project, user):
    job_id = post_job(api, project, [text_file()]).json()["id"]
    event = JobEvent.objects.get(job_id=job_id)
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        "create",
        "",
        "queued",
        user,
    )


def test_repeated_idempotency_key_returns_the_first_job_and_stores_nothing(api, project, settings):
    headers = {"Idempotency-Key": "upload-42"}
    first = post_job(api, project, [text_file()], headers=headers)
    assert first.status_code == 201
    files_before = stored_files(settings)
    again = post_job(api, project, [text_file()], headers=headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again["ETag"] == first["ETag"]
    assert IngestJob.all_objects.count() == 1
    assert IngestFile.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
    assert stored_files(settings) == files_before


def test_idempotency_keys_belong_to_their_user(api, project):
    headers = {"Idempotency-Key": "same-key"}
    mine = post_job(api, project, [text_file()], headers=headers).json()["id"]
    other = client_for(member(project, Role.MEMBER))
    theirs = post_job(other, project, [text_file()], headers=headers)
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine


def test_an_idempotency_key_spent_elsewhere_is_a_conflict_not_that_job(api, project, user):
    headers = {"Idempotency-Key": "spent"}
    first = post_job(api, project, [text_file()], headers=headers).json()["id"]
    other = ProjectFactory(created_by=user)
    MembershipFactory(project=other, user=user, role=Role.OWNER)

    elsewhere = post_job(api, other, [text_file()], headers=headers)

    body = assert_error(elsewhere, 409, "idempotency_conflict")
    assert first not in elsewhere.content.decode()
    job = IngestJob.objects.get(pk=first)
    lifecycle.request_cancel(job)
    lifecycle.soft_delete(job)
    assert_error(
        post_job(api, project, [text_file()], headers=headers), 409, "idempotency_conflict"
    )
    assert (
        body["detail"] == "this Idempotency-Key was already used for another job; send a new key."
    )
    assert IngestJob.all_objects.count() == 1


def test_a_request_over_djangos_own_limits_is_json_too(api, project, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = [text_file(f"f{i}.txt", b"text %d" % i) for i in range(3)]

    assert_error(post_job(api, project, files), 400, "invalid")
    assert not IngestJob.all_objects.exists()


def test_an_upload_stops_at_the_first_file_past_the_count(api, project, settings, monkeypatch):
    settings.INGEST_MAX_FILES = 2
    opened = []
    new_file = TemporaryFileUploadHandler.new_file

    def counted(self, *args, **kwargs):
        opened.append(args[1])
        return new_file(self, *args, **kwargs)

    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file", counted)
    files = [text_file(f"f{i}.txt", b"text %d" % i) for i in range(6)]

    body = assert_error(post_job(api, project, files), 400, "invalid")

    assert body["detail"] == "files: more than 2 files sent; a job takes at most 2."
    assert opened == ["f0.txt", "f1.txt"]  # the third was never opened, nor the rest
    assert not IngestJob.all_objects.exists()
    assert stored_files(settings) == []


def test_djangos_count_of_files_leaves_the_products_refusal_first():
    assert configured.DATA_UPLOAD_MAX_NUMBER_FILES == configured.INGEST_MAX_FILES + 1


def test_parts_past_djangos_count_get_the_products_sentence(api, project, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    settings.INGEST_MAX_FILES = 2
    # Parts named "." are counted by Django but open no file.
    parts = "".join(
        '--b\r\nContent-Disposition: form-data; name="files"; filename="."\r\n\r\nx\r\n'
        for _ in range(4)
    )
    response = api.post(
        jobs_url(project), data=parts + "--b--\r\n", content_type="multipart/form-data; boundary=b"
    )

    body = assert_error(response, 400, "invalid")
    assert body["detail"] == "more than 2 files sent; a job takes at most 2."


@pytest.mark.parametrize("project_id", ["a.b", "not-a-uuid", "123"])
def test_a_malformed_project_id_is_the_apis_json_404(api, project_id):
    assert_error(api.get(f"/api/projects/{project_id}/ingest/jobs/"), 404, "not_found")


def test_create_without_files_is_a_field_error(api, project, settings):
    body = assert_error(api.post(jobs_url(project), {"name": "x"}), 400, "invalid")
    assert "files" in body["errors"]
    assert not IngestJob.all_objects.exists()


def test_create_with_an_empty_file_is_a_field_error(api, project, settings):
    response = post_job(api, project, [text_file(), text_file("empty.txt", b"")])
    body = assert_error(response, 400, "invalid")
    assert "empty.txt is empty" in body["detail"]
    assert not IngestJob.all_objects.exists()
    assert stored_files(settings) == []


def test_create_with_too_many_files_is_a_field_error(api, project, settings):
    settings.INGEST_MAX_FILES = 2
    files = [text_file(f"f{i}.txt", b"text %d" % i) for i in range(3)]
    body = assert_error(post_job(api, project, files), 400, "invalid")
    assert "at most 2" in body["detail"]
    assert not IngestJob.all_objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"chunk_size": 10}, "chunk_size"),
        ({"chunk_size": 1_000_000}, "chunk_size"),
        ({"chunk_size": "big"}, "chunk_size"),
        ({"chunk_size": 100, "chunk_overlap": 51}, "chunk_overlap"),
        ({"chunk_overlap": -1}, "chunk_overlap"),
        ({"chunk_overlap": "some"}, "chunk_overlap"),
    ],
)
def test_create_with_bad_chunking_is_a_field_error(api, project, settings, data, field):
    body = assert_error(post_job(api, project, [text_file()], **data), 400, "invalid")
    assert field in body["errors"]
    assert body["detail"].startswith(f"{field}:")
    assert not IngestJob.all_objects.exists()
    assert stored_files(settings) == []


def test_file_over_the_limit_is_refused_while_streaming_with_413(api, project, settings, tmp_path):
    settings.INGEST_MAX_FILE_BYTES = 1000
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "upload-tmp"
    settings.FILE_UPLOAD_TEMP_DIR.mkdir()
    files = [text_file("small.txt", b"fine\n"), text_file("big.txt", b"x" * 5000)]
    body = assert_error(post_job(api, project, files), 413, "too_large")
    # The upload handler's message, not the service's after-the-fact check.
    assert body["detail"] == "big.txt is over the limit of 1000 bytes per file."
    assert not IngestJob.all_objects.exists()
    assert not IngestFile.objects.exists()
    assert stored_files(settings) == []
    assert list(settings.FILE_UPLOAD_TEMP_DIR.iterdir()) == []


def test_only_file_over_the_limit_is_413_not_a_missing_files_error(api, project, settings):
    settings.INGEST_MAX_FILE_BYTES = 1000
    body = assert_error(post_job(api, project, [text_file("big.txt", b"x" * 5000)]), 413)
    assert "big.txt" in body["detail"]
    assert not IngestJob.all_objects.exists()
    assert stored_files(settings) == []


def test_files_over_the_total_limit_are_413(api, project, settings):
    settings.INGEST_MAX_TOTAL_BYTES = 3000
    files = [text_file(f"f{i}.txt", b"y" * 1200) for i in range(3)]
    body = assert_error(post_job(api, project, files), 413, "too_large")
    assert "3000" in body["detail"]
    assert not IngestJob.all_objects.exists()
    assert stored_files(settings) == []


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("looks.txt", bytes(range(256)) * 8),
        ("fake.pdf", b"just some text, not a PDF at all\n"),
        ("fake.zip", b"plain text named zip"),
        ("program.exe", b"MZ\x90\x00\x03"),
        ("legacy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600),
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"),
    ],
)
def test_unsupported_content_is_415(api, project, settings, name, content):
    files = [text_file(), SimpleUploadedFile(name, content)]
    body = assert_error(post_job(api, project, files), 415, "unsupported_media_type")
    assert name in body["detail"]
    assert not IngestJob.all_objects.exists()
    assert stored_files(settings) == []


def test_the_415_sentence_lists_the_kinds_accepted(api, project):
    files = [SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")]
    detail = assert_error(post_job(api, project, files), 415, "unsupported_media_type")["detail"]
    for kind in ("pdf", "docx", "pptx", "xlsx", "epub", "eml", "csv", "tsv", "jsonl", "zip"):
        assert kind in detail


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("latin1.txt", "caf\xe9 cr\xe8me br\xfbl\xe9e".encode("latin-1") * 10, "txt"),
        ("LICENSE", b"Permission is hereby granted, free of charge", "txt"),
        ("notes.rst", b"Title\n=====\n", "txt"),
        ("rows.ndjson", b'{"a": 1}\n', "jsonl"),
        ("mail.eml", b"From: a@example.org\nSubject: hi\n\nbody\n", "eml"),
        ("utf16.txt", "wide text, no mark".encode("utf-16-le"), "txt"),
    ],
)
def test_text_of_any_name_and_encoding_is_accepted(api, project, name, content, kind):
    response = post_job(api, project, [SimpleUploadedFile(name, content)])
    assert response.status_code == 201, response.json()
    assert IngestJob.objects.get().files.get().kind == kind


def test_create_with_a_body_that_is_not_a_form_is_415(api, project):
    response = api.post(jobs_url(project), b"files", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_viewer_cannot_create_a_job(project, settings):
    viewer = client_for(member(project, Role.VIEWER))
    assert_error(post_job(viewer, project, [text_file()]), 403, "permission_denied")
    assert not IngestJob.all_objects.exists()


def test_non_member_gets_404_for_everything_under_a_project(project):
    job = IngestJobFactory(project=project)
    outsider = client_for(UserFactory())
    for response in (
        outsider.get(jobs_url(project)),
        outsider.get(job_url(project, job.pk)),
        outsider.post(jobs_url(project), {"files": [text_file()]}, format="multipart"),
        outsider.post(f"{job_url(project, job.pk)}cancel/"),
        outsider.delete(job_url(project, job.pk)),
        outsider.get(f"{job_url(project, job.pk)}events/"),
        outsider.get(f"/api/projects/{project.pk}/members/"),
        outsider.get(f"/api/projects/{project.pk}/documents/"),
    ):
        assert_error(response, 404, "not_found")
    # The same answer as for a project that does not exist at all.
    missing = outsider.get("/api/projects/00000000-0000-0000-0000-000000000000/ingest/jobs/")
    assert missing.json() == outsider.get(jobs_url(project)).json()
    assert IngestJob.objects.get().status == JobStatus.QUEUED


# --- list --------------------------------------------------------------------


def test_list_is_newest_first_and_hides_deleted_jobs(api, project):
    old = IngestJobFactory(project=project, name="old", status=JobStatus.COMPLETED)
    new = IngestJobFactory(project=project, name="new")
    gone = IngestJobFactory(project=project, name="gone", status=JobStatus.FAILED)
    lifecycle.soft_delete(gone)
    IngestJobFactory(name="other project")
    response = api.get(jobs_url(project))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [j["id"] for j in body["results"]] == [str(new.pk), str(old.pk)]
    assert "result" not in body["results"][0]


def test_job_urls_are_the_detail_route_in_the_list_and_the_detail(api, project):
    # The list builds each row's URL from its own once (see JobOutput.get_url).
    jobs = IngestJobFactory.create_batch(2, project=project)
    detail = [
        "http://testserver"
        + reverse("api:job-detail", kwargs={"project_id": project.pk, "pk": job.pk})
        for job in jobs
    ]
    listed = api.get(jobs_url(project)).json()["results"]
    assert sorted(row["url"] for row in listed) == sorted(detail)
    assert api.get(detail[0]).json()["url"] == detail[0]


def test_list_filters_by_status(api, project):
    running = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    IngestJobFactory(project=project)
    IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    response = api.get(jobs_url(project), {"status": "running"})
    assert [j["id"] for j in response.json()["results"]] == [str(running.pk)]
    assert api.get(jobs_url(project), {"status": "failed"}).json()["count"] == 0
    assert api.get(jobs_url(project), {"status": ""}).json()["count"] == 3  # blank: no filter


def test_list_with_an_unknown_status_is_a_field_error(api, project):
    assert_error(api.get(jobs_url(project), {"status": "exploded"}), 400, "invalid")


def test_list_is_paginated(api, project):
    for _ in range(27):
        IngestJobFactory(project=project)
    first = api.get(jobs_url(project)).json()
    assert first["count"] == 27
    assert len(first["results"]) == 25
    assert first["previous"] is None
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert second["next"] is None
    seen = {j["id"] for j in first["results"] + second["results"]}
    assert len(seen) == 27


def test_viewer_reads_the_list(project):
    IngestJobFactory(project=project)
    viewer = client_for(member(project, Role.VIEWER))
    assert viewer.get(jobs_url(project)).json()["count"] == 1


# --- retrieve ----------------------------------------------------------------


def test_detail_has_the_designed_shape(api, project):
    job = IngestJobFactory(
        project=project,
        status=JobStatus.RUNNING,
        items_total=4,
        items_done=2,
        items_failed=1,
        bytes_total=400,
        bytes_done=250,
    )
    done = IngestFileFactory(
        job=job, position=0, name="a.txt", chunks=12, status="done", content=b"a" * 100
    )
    IngestFileFactory(
        job=job, position=1, name="b.txt", status="failed", error="broken", content=b"b" * 100
    )
    IngestFileFactory(job=job, position=2, name="c.txt", content=b"c" * 150)
    IngestFileFactory(job=job, position=3, name="d.txt", content=b"d" * 50)
    document = DocumentFactory(project=project, job=job, source_file=done)
    DocumentSource.objects.create(document=document, file=done)

    response = api.get(job_url(project, job.pk))
    assert response.status_code == 200
    assert response["ETag"] == f'W/"{job.version}"'
    body = response.json()
    assert set(body) == DESIGN_JOB_KEYS | EXTRA_JOB_KEYS
    assert body["status"] == "running"
    assert body["project"] == str(project.pk)
    assert body["error"] is None
    assert body["progress"] == {
        "files_total": 4,
        "files_done": 2,
        "files_failed": 1,
        "bytes_total": 400,
        "bytes_done": 250,
        "percent": 62,
    }
    assert body["actions"] == ["cancel"]
    assert body["status_before_delete"] is None
    assert set(body["result"]) == {"partial", "documents_created", "files"}
    assert body["result"]["partial"] is False
    assert body["result"]["documents_created"] == 1
    files = body["result"]["files"]
    keys = {"position", "name", "size", "status", "bytes_read", "document", "chunks", "error"}
    assert [set(f) for f in files] == [keys | {"kind", "encoding", "pages"}] * 4
    assert [f["position"] for f in files] == [0, 1, 2, 3]
    # The file being read is the first not finished: 250 bytes done, 200 of
    # them the finished files', so 50 of its 150 read; the next one waits.
    assert [(f["name"], f["status"], f["bytes_read"], f["error"]) for f in files] == [
        ("a.txt", "done", None, None),
        ("b.txt", "failed", None, "broken"),
        ("c.txt", "reading", 50, None),
        ("d.txt", "waiting", None, None),
    ]
    assert files[0]["document"] == str(document.pk)
    assert files[1]["document"] is None


def test_detail_etag_follows_the_version(api, project):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    before = api.get(job_url(project, job.pk))["ETag"]
    lifecycle.request_cancel(job)
    after = api.get(job_url(project, job.pk))
    assert before == 'W/"1"'
    assert after["ETag"] == 'W/"2"'
    assert after.json()["status"] == "cancelling"


def test_detail_of_a_malformed_id_is_404(api, project):
    assert_error(api.get(job_url(project, "not-a-uuid")), 404, "not_found")
    assert_error(api.get("/api/projects/not-a-uuid/ingest/jobs/"), 404, "not_found")


def test_detail_of_an_unknown_id_is_404(api, project):
    response = api.get(job_url(project, "5f0c8a2e-0000-4000-8000-000000000000"))
    assert_error(response, 404, "not_found")


def test_another_projects_job_is_404_under_this_projects_url(api, project, user):
    mine_too = ProjectFactory(created_by=user)
    other_job = IngestJobFactory(project=mine_too, status=JobStatus.COMPLETED)
    url = job_url(project, other_job.pk)
    assert_error(api.get(url), 404, "not_found")
    assert_error(api.post(f"{url}cancel/"), 404, "not_found")
    assert_error(api.delete(url), 404, "not_found")
    assert_error(api.get(f"{url}events/"), 404, "not_found")
    assert IngestJob.objects.get(pk=other_job.pk).status == JobStatus.COMPLETED


def test_unknown_api_routes_and_methods_answer_json(api, project):
    assert_error(api.get("/api/nothing-here/"), 404, "not_found")
    job = IngestJobFactory(project=project)
    assert_error(api.put(job_url(project, job.pk), {}), 405, "method_not_allowed")


# --- cancel ------------------------------------------------------------------


def test_cancel_of_a_queued_job_is_200_and_it_leaves_the_queue(
    api, project, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post_job(api, project, [text_file()]).json()["id"]
    assert RQJob.fetch(job_id, connection=redis_conn)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"{job_url(project, job_id)}cancel/", {"reason": "wrong files"}, format="json"
        )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["cancel_requested_at"] is not None
    assert body["finished_at"] is not None
    with pytest.raises(NoSuchJobError):
        RQJob.fetch(job_id, connection=redis_conn)
    assert redis_conn.lrange("rq:queue:ingest", 0, -1) == []
    event = JobEvent.objects.get(job_id=job_id, action="cancel")
    assert (event.from_status, event.to_status, event.reason) == (
        "queued",
        "cancelled",
        "wrong files",
    )


def test_cancel_of_a_running_job_is_202_cancelling(api, project, user):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    response = api.post(f"{job_url(project, job.pk)}cancel/")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelling"
    assert response["ETag"] == 'W/"2"'
    job.refresh_from_db()
    assert job.cancel_requested_at is not None
    assert job.cancel_requested_by == user


def test_cancel_of_a_cancelling_job_is_202_again_without_a_second_event(api, project):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    url = f"{job_url(project, job.pk)}cancel/"
    assert api.post(url).status_code == 202
    again = api.post(url)
    assert again.status_code == 202
    assert again.json()["status"] == "cancelling"
    assert again.json()["version"] == 2
    assert JobEvent.objects.filter(job_id=job.pk, action="cancel").count() == 1


@pytest.mark.parametrize("state", ["completed", "failed", "cancelled"])
def test_cancel_of_a_finished_job_is_409_naming_the_state(api, project, state):
    job = IngestJobFactory(project=project, status=state)
    body = assert_error(api.post(f"{job_url(project, job.pk)}cancel/"), 409, "invalid_state")
    assert state in body["detail"]
    assert not JobEvent.objects.filter(job_id=job.pk).exists()


def test_cancel_with_a_stale_if_match_is_412(api, project):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING, version=3)
    url = f"{job_url(project, job.pk)}cancel/"
    assert_error(api.post(url, headers={"If-Match": 'W/"2"'}), 412, "precondition_failed")
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert api.post(url, headers={"If-Match": 'W/"3"'}).status_code == 202


def test_viewer_cannot_cancel(project):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    viewer = client_for(member(project, Role.VIEWER))
    assert_error(viewer.post(f"{job_url(project, job.pk)}cancel/"), 403, "permission_denied")
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING


def test_a_member_cancels(project):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    client = client_for(member(project, Role.MEMBER))
    assert client.post(f"{job_url(project, job.pk)}cancel/").status_code == 202


def test_cancel_with_a_bad_reason_is_a_field_error(api, project):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    response = api.post(f"{job_url(project, job.pk)}cancel/", {"reason": "x" * 2000}, format="json")
    assert "reason" in assert_error(response, 400, "invalid")["errors"]


# --- delete ------------------------------------------------------------------


@pytest.mark.parametrize("state", ["completed", "failed", "cancelled"])
def test_delete_of_a_finished_job_is_204_then_404(api, project, state):
    job = IngestJobFactory(project=project, status=state)
    response = api.delete(job_url(project, job.pk))
    assert response.status_code == 204
    assert response.content == b""
    assert_error(api.get(job_url(project, job.pk)), 404, "not_found")
    assert_error(api.delete(job_url(project, job.pk)), 404, "not_found")
    assert api.get(jobs_url(project)).json()["count"] == 0
    deleted = IngestJob.all_objects.get(pk=job.pk)
    assert deleted.status == JobStatus.CANCELLED
    assert deleted.deleted_at is not None


@pytest.mark.parametrize("state", ["queued", "running", "cancelling"])
def test_delete_of_an_active_job_is_409_saying_how(api, project, state):
    job = IngestJobFactory(project=project, status=state)
    body = assert_error(api.delete(job_url(project, job.pk)), 409, "invalid_state")
    assert CANCEL_FIRST in body["detail"]
    job.refresh_from_db()
    assert (job.status, job.deleted_at) == (state, None)


def test_force_delete_of_a_queued_job_is_202_and_ends_deleted(
    api, project, redis_conn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post_job(api, project, [text_file()]).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"{job_url(project, job_id)}?force=true")
    assert response.status_code == 202
    job = IngestJob.all_objects.get(pk=job_id)
    assert job.status == JobStatus.CANCELLED
    assert job.deleted_at is not None
    assert job.delete_requested_at is not None
    with pytest.raises(NoSuchJobError):
        RQJob.fetch(job_id, connection=redis_conn)
    assert_error(api.get(job_url(project, job_id)), 404)


def test_force_delete_of_a_running_job_is_202_and_marks_it(api, project):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    response = api.delete(f"{job_url(project, job.pk)}?force=true")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelling"
    assert response.json()["delete_requested_at"] is not None
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLING
    assert job.delete_requested_at is not None
    assert job.deleted_at is None
    # Still visible until the worker or the reaper finishes the cancel.
    assert api.get(job_url(project, job.pk)).status_code == 200


def test_force_delete_of_a_finished_job_is_a_plain_204(api, project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    assert api.delete(f"{job_url(project, job.pk)}?force=true").status_code == 204
    assert IngestJob.all_objects.get(pk=job.pk).deleted_at is not None


def test_delete_with_a_stale_if_match_is_412(api, project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED, version=4)
    url = job_url(project, job.pk)
    assert_error(api.delete(url, headers={"If-Match": 'W/"1"'}), 412, "precondition_failed")
    assert IngestJob.objects.filter(pk=job.pk).exists()
    assert api.delete(url, headers={"If-Match": 'W/"4"'}).status_code == 204


def test_viewer_cannot_delete(project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    viewer = client_for(member(project, Role.VIEWER))
    assert_error(viewer.delete(job_url(project, job.pk)), 403, "permission_denied")
    assert IngestJob.objects.filter(pk=job.pk).exists()


def test_delete_keeps_the_documents_the_job_produced(api, project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    document = DocumentFactory(project=project, job=job)
    assert api.delete(job_url(project, job.pk)).status_code == 204
    response = api.get(f"/api/projects/{project.pk}/documents/{document.pk}/")
    assert response.status_code == 200
    assert response.json()["source_job"] == str(job.pk)


# --- events ------------------------------------------------------------------


def test_events_list_the_audit_trail_oldest_first(api, project, user):
    job_id = post_job(api, project, [text_file()]).json()["id"]
    api.post(f"{job_url(project, job_id)}cancel/", {"reason": "oops"}, format="json")
    response = api.get(f"{job_url(project, job_id)}events/")
    assert response.status_code == 200
    events = response.json()["results"]
    assert [(e["action"], e["from"], e["to"]) for e in events] == [
        ("create", None, "queued"),
        ("cancel", "queued", "cancelled"),
    ]
    assert set(events[1]) == {"action", "from", "to", "actor", "reason", "at"}
    assert events[1]["actor"] == user.username
    assert events[1]["reason"] == "oops"
    assert events[0]["at"] <= events[1]["at"]


# --- documents and chunks ----------------------------------------------------


@pytest.fixture
def document(project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    source = IngestFileFactory(job=job, name="report.txt", status="done", chunks=3)
    document = DocumentFactory(
        project=project, title="Quarterly report", job=job, source_file=source, chunk_count=3
    )
    for number, text in enumerate(["alpha beta", "gamma delta", "epsilon zeta"]):
        search_index.chunk(
            document=document, index=number, text=text, start=number * 10, end=number * 10 + 10
        ).save()
    return document


def test_documents_list_and_search_titles_and_text(api, project, document):
    DocumentFactory(project=project, title="Minutes")
    DocumentFactory(title="Quarterly elsewhere")
    url = f"/api/projects/{project.pk}/documents/"
    assert api.get(url).json()["count"] == 2
    assert [d["id"] for d in api.get(url, {"q": "quarterly"}).json()["results"]] == [
        str(document.pk)
    ]
    assert [d["id"] for d in api.get(url, {"q": "GAMMA"}).json()["results"]] == [str(document.pk)]
    assert api.get(url, {"q": "nowhere"}).json()["count"] == 0


def test_document_detail_shows_its_source(api, project, document):
    response = api.get(f"/api/projects/{project.pk}/documents/{document.pk}/")
    assert response.status_code == 200
    assert response.json() == {
        "id": str(document.pk),
        "title": "Quarterly report",
        "sha256": document.sha256,
        "size": document.size,
        "chunk_count": 3,
        "source_job": str(document.job_id),
        "source_file": "report.txt",
        "created_at": response.json()["created_at"],
    }


def test_document_chunks_are_paginated_in_order(api, project, document):
    response = api.get(f"/api/projects/{project.pk}/documents/{document.pk}/chunks/")
    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert response.json()["results"] == [
        {"index": 0, "text": "alpha beta", "start": 0, "end": 10},
        {"index": 1, "text": "gamma delta", "start": 10, "end": 20},
        {"index": 2, "text": "epsilon zeta", "start": 20, "end": 30},
    ]


def test_documents_of_another_project_or_malformed_ids_are_404(api, project, user):
    elsewhere = DocumentFactory(project=ProjectFactory(created_by=user))
    base = f"/api/projects/{project.pk}/documents/"
    assert_error(api.get(f"{base}{elsewhere.pk}/"), 404, "not_found")
    assert_error(api.get(f"{base}{elsewhere.pk}/chunks/"), 404, "not_found")
    assert_error(api.get(f"{base}not-a-uuid/"), 404, "not_found")
    assert_error(api.get(f"{base}not-a-uuid/chunks/"), 404, "not_found")


def test_viewer_reads_documents(project, document):
    viewer = client_for(member(project, Role.VIEWER))
    assert viewer.get(f"/api/projects/{project.pk}/documents/{document.pk}/").status_code == 200


# --- schema ------------------------------------------------------------------


def test_openapi_schema_and_docs_render(api):
    schema = api.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/projects/{project_id}/ingest/jobs/{id}/cancel/" in paths
    assert "/api/projects/{project_id}/ingest/jobs/{id}/events/" in paths
    assert api.get("/api/docs/").status_code == 200


def test_the_last_owner_cannot_step_down(api, project, user):
    url = f"/api/projects/{project.pk}/members/"

    response = api.post(url, {"username": user.username, "role": "member"})

    body = assert_error(response, 409, "last_owner")
    assert "at least one owner" in body["detail"]
    other = member(project, Role.MEMBER)
    assert api.post(url, {"username": other.username, "role": "owner"}).status_code == 201
    assert api.post(url, {"username": user.username, "role": "member"}).status_code == 201


@pytest.mark.parametrize(
    "version", ['x"; evil', "a\r\nX-Injected: 1", "\u00e9\u00e9", "../../etc/passwd", "2.0"]
)
def test_the_schema_ignores_a_version_it_does_not_have(api, version):
    response = api.get("/api/schema/", {"version": version, "format": "json"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'inline; filename="Ingest jobs API.json"'
    assert "X-Injected" not in response
    assert response.json()["info"]["version"] == "1.0.0"


def test_the_docs_page_does_not_carry_a_version_into_its_script(api):
    html = api.get("/api/docs/", {"version": "</script><script>alert(1)</script>"}).content
    assert b"<script>alert(1)" not in html
