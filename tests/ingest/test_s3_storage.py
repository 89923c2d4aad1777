"""Uploads on S3-compatible object storage, against moto's standalone server:
streamed to the bucket as they arrive, limits as on disk, nothing left behind
by a refused upload, cleanup and purge remove the objects, and a missing
bucket or refused credentials answer 503 with a sentence."""

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.http.multipartparser import MultiPartParser
from django.test import RequestFactory
from django.utils import timezone

from ingest import services, storage, upload_handlers
from ingest.models import IngestFile, IngestJob
from jobs import lifecycle
from tests.conftest import client_for, free_port, member
from tests.e2e.helpers import prose, text_file
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BIG = 2 * upload_handlers.PART_SIZE + 12345  # three multipart parts, the last one short


def jobs_url(project) -> str:
    return f"/api/projects/{project.pk}/ingest/jobs/"


def post_files(api, project, files, **fields):
    return api.post(jobs_url(project), {"files": files, **fields}, format="multipart")


def stored_keys(job) -> list[str]:
    return sorted(storage.s3_key(p) for p in job.files.values_list("storage_path", flat=True))


def test_upload_streams_each_file_to_the_bucket(api, project, s3):
    small, big = prose(1, 3_000), prose(2, BIG)

    response = post_files(
        api, project, [text_file("small.txt", 1, 3_000), text_file("big.txt", 2, BIG)]
    )

    assert response.status_code == 201, response.json()
    job = IngestJob.objects.get(pk=response.json()["id"])
    assert s3.keys() == stored_keys(job)
    for ingest_file, content in zip(job.files.order_by("position"), [small, big], strict=True):
        key = storage.s3_key(ingest_file.storage_path)
        body = s3.client.get_object(Bucket=s3.name, Key=key)["Body"].read()
        assert body == content
        assert ingest_file.sha256 == hashlib.sha256(content).hexdigest()
        assert ingest_file.size == len(content)


def test_a_streamed_file_holds_at_most_one_part_in_memory(s3, rf: RequestFactory):
    content = prose(3, BIG)
    request = rf.post("/", {"files": io.BytesIO(content)})
    body = request.read()
    handler = upload_handlers.S3UploadHandler(request)
    parser = MultiPartParser(request.META, io.BytesIO(body), [handler])

    _, files = parser.parse()

    streamed = files["files"]
    assert streamed.size == len(content)
    # Multipart, sent part by part as the parts filled up.
    assert len(streamed._parts) >= 2
    assert streamed.peak_buffered < upload_handlers.PART_SIZE + 64 * 1024
    assert streamed.read(10) == content[:10]  # the head, for sniffing
    key = storage.s3_key(streamed.storage_path)
    assert s3.client.head_object(Bucket=s3.name, Key=key)["ContentLength"] == len(content)
    streamed.close()  # the request ends and no job claimed it
    assert s3.keys() == []


def test_a_file_over_the_limit_stops_the_upload_and_leaves_no_object(api, project, s3, settings):
    settings.INGEST_MAX_FILE_BYTES = 5_000
    files = [text_file("fine.txt", 1, 3_000), text_file("huge.txt", 2, 20_000)]

    response = post_files(api, project, files)

    assert response.status_code == 413
    assert "huge.txt is over the limit of 5000 bytes" in response.json()["detail"]
    assert s3.keys() == []
    assert not IngestJob.objects.exists()


def test_a_refused_type_or_bad_parameter_leaves_no_object(api, project, s3):
    png = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    png.name = "picture.png"

    unsupported = post_files(api, project, [text_file("a.txt", 1, 2_000), png])
    invalid = post_files(api, project, [text_file("b.txt", 2, 2_000)], chunk_size=3)

    assert (unsupported.status_code, invalid.status_code) == (415, 400)
    assert s3.keys() == []


def test_a_repeated_idempotency_key_keeps_no_second_copy(api, project, s3):
    headers = {"HTTP_IDEMPOTENCY_KEY": "same-upload"}
    files = lambda: [text_file("a.txt", 1, 2_000)]  # noqa: E731
    first = api.post(jobs_url(project), {"files": files()}, format="multipart", **headers)
    again = api.post(jobs_url(project), {"files": files()}, format="multipart", **headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert s3.keys() == stored_keys(IngestJob.objects.get())


def test_a_missing_bucket_answers_503_and_readyz_says_so(api, project, s3, client):
    s3.remove()

    response = post_files(api, project, [text_file("a.txt", 1, 2_000)])
    ready = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "storage_unavailable"
    assert f"the upload bucket '{s3.name}' does not exist" in body["detail"]
    assert not IngestJob.objects.exists()
    assert ready.status_code == 503
    check = ready.json()["checks"]["storage"]
    assert check["ok"] is False and f"'{s3.name}' does not exist" in check["error"]


def test_refused_credentials_answer_503_and_readyz_says_so(
    api, project, s3, client, settings, moto_server_checking_keys
):
    settings.AWS_S3_ENDPOINT_URL = moto_server_checking_keys.url
    settings.STORAGES = {**settings.STORAGES}  # a new storage for the new endpoint

    response = post_files(api, project, [text_file("a.txt", 1, 2_000)])
    ready = client.get("/readyz")

    assert response.status_code == 503
    detail = response.json()["detail"]
    assert f"object storage refused the credentials for bucket '{s3.name}'" in detail
    assert "AWS_ACCESS_KEY_ID" in detail
    assert not IngestJob.objects.exists()
    check = ready.json()["checks"]["storage"]
    assert check["ok"] is False and "refused the credentials" in check["error"]


def test_a_storage_that_does_not_answer_is_named_without_its_address(
    api, project, s3, client, settings
):
    settings.AWS_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens
    settings.STORAGES = {**settings.STORAGES}  # a new storage for the new endpoint
    staff = UserFactory(is_staff=True)

    upload = post_files(api, project, [text_file("a.txt", 1, 2_000)])
    anonymous = client.get("/readyz").json()["checks"]["storage"]
    client.force_login(staff)
    detailed = client.get("/readyz").json()["checks"]["storage"]

    assert upload.status_code == 503
    assert upload.json()["detail"].endswith(
        ": object storage does not answer; try again in a few minutes."
    )
    assert "127.0.0.1" not in upload.json()["detail"]
    assert anonymous["error"] == "object storage does not answer; try again in a few minutes."
    assert settings.AWS_S3_ENDPOINT_URL in detailed["error"]
    assert not IngestJob.objects.exists()


def test_readyz_reports_the_bucket_when_it_answers(s3, client):
    check = client.get("/readyz").json()["checks"]["storage"]

    assert check == {"ok": True, "backend": "s3", "bucket": s3.name}


def test_cleanup_removes_the_objects_and_counts_them(api, project, s3):
    created = post_files(api, project, [text_file("a.txt", 1, 2_000), text_file("b.txt", 2, 3_000)])
    job = IngestJob.objects.get(pk=created.json()["id"])
    lifecycle.request_cancel(job)
    url = f"{jobs_url(project)}{job.pk}/cleanup/"

    first = api.post(url)
    second = api.post(url)

    assert first.status_code == 200
    assert (first.json()["files_removed"], first.json()["bytes_freed"]) == (2, 5_000)
    assert s3.keys() == []
    assert second.json()["files_removed"] == 0
    assert second.json()["removed_anything"] is False


def test_cleanup_with_the_bucket_gone_answers_503(api, project, s3):
    created = post_files(api, project, [text_file("a.txt", 1, 2_000)])
    job = IngestJob.objects.get(pk=created.json()["id"])
    lifecycle.request_cancel(job)
    s3.remove()

    response = api.post(f"{jobs_url(project)}{job.pk}/cleanup/")

    assert response.status_code == 503
    assert "does not exist" in response.json()["detail"]


def test_purge_removes_the_objects_and_says_how_many(api, project, s3):
    created = post_files(api, project, [text_file("a.txt", 1, 2_000), text_file("b.txt", 2, 3_000)])
    job = IngestJob.objects.get(pk=created.json()["id"])
    lifecycle.request_cancel(job)
    services.job_delete(job=IngestJob.objects.get(pk=job.pk))
    IngestJob.all_objects.filter(pk=job.pk).update(deleted_at=timezone.now() - timedelta(days=40))
    out = io.StringIO()

    call_command("purge_deleted_jobs", "--older-than", "30d", stdout=out)

    assert s3.keys() == []
    assert not IngestJob.all_objects.filter(pk=job.pk).exists()
    assert f"purged job {job.pk}" in out.getvalue()
    assert ": 2 stored file(s), 5000 bytes" in out.getvalue()
    assert "removing 2 stored file(s) (5000 bytes)" in out.getvalue()


def test_retry_copies_the_unfinished_uploads_inside_the_bucket(api, project, s3):
    created = post_files(api, project, [text_file("a.txt", 1, 2_000), text_file("b.txt", 2, 3_000)])
    job = IngestJob.objects.get(pk=created.json()["id"])
    IngestFile.objects.filter(job=job, position=0).update(status="done")
    lifecycle.request_cancel(job)

    response = api.post(f"{jobs_url(project)}{job.pk}/retry/")

    assert response.status_code == 201, response.json()
    retry = IngestJob.objects.get(pk=response.json()["id"])
    (copied,) = retry.files.all()
    assert copied.name == "b.txt"
    key = storage.s3_key(copied.storage_path)
    assert key.startswith(f"jobs/{project.pk}/{retry.pk}/0000-")
    assert s3.client.get_object(Bucket=s3.name, Key=key)["Body"].read() == prose(2, 3_000)
    assert len(s3.keys()) == 3  # the original two, and the copy


def test_viewers_still_get_403_on_object_storage(project, s3):
    viewer = client_for(member(project, "viewer"))

    response = post_files(viewer, project, [text_file("a.txt", 1, 2_000)])

    assert response.status_code == 403
    assert s3.keys() == []
    assert not IngestJob.objects.exists()


def test_the_ingest_command_stores_local_files_in_the_bucket(project, user, s3, tmp_path):
    source = tmp_path / "batch"
    source.mkdir()
    (source / "a.txt").write_bytes(prose(5, 4_000))

    call_command("ingest", str(project.pk), str(source), "--user", user.username, "--no-wait")

    job = IngestJob.objects.get()
    assert s3.keys() == stored_keys(job)
    assert stored_keys(job)[0].startswith(f"jobs/{project.pk}/{job.pk}/0000-")


def test_the_ingest_command_says_when_the_bucket_is_missing(project, user, s3, tmp_path):
    (tmp_path / "a.txt").write_bytes(prose(6, 4_000))
    s3.remove()

    with pytest.raises(CommandError, match=f"the upload bucket '{s3.name}' does not exist"):
        call_command("ingest", str(project.pk), str(tmp_path / "a.txt"), "--user", user.username)
    assert not IngestJob.objects.exists()


def test_a_dashboard_upload_with_the_bucket_gone_answers_503(project, user, s3):
    from django.test import Client
    from django.urls import reverse

    s3.remove()
    browser = Client()
    browser.force_login(user)

    response = browser.post(
        reverse("ingest:job-create", kwargs={"project_id": project.pk}),
        {"files": [text_file("a.txt", 1, 2_000)], "chunk_size": 1000, "chunk_overlap": 100},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 503
    assert "ingest:refused" in response["HX-Trigger"]
    assert "The upload storage is unavailable" in response.content.decode()
    assert "does not exist" in response.content.decode()


# --- nothing reaches the bucket before a request is allowed ----------------------


@pytest.fixture
def s3_calls(s3):
    """The S3 API calls this process makes, as botocore announces them."""
    calls = []
    storage.s3_client().meta.events.register(
        "before-call.s3", lambda model, **_: calls.append(model.name)
    )
    return calls


def forged_form_post(path: str, files: list):
    """A multipart POST with a self-made CSRF cookie and a same-site Referer:
    what passes Django's CSRF check up to the point where it reads the form."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.cookies["csrftoken"] = "x" * 32
    return browser.post(
        path, {"files": files, "csrfmiddlewaretoken": "y" * 32}, HTTP_REFERER="http://testserver/"
    )


def test_anonymous_form_posts_write_nothing_to_the_bucket(project, s3, s3_calls):
    from django.urls import reverse

    create = reverse("ingest:job-create", kwargs={"project_id": project.pk})
    for path in ("/login/", "/healthz", create, jobs_url(project)):
        files = [text_file(f"{n}.txt", n, 2_000) for n in range(5)]
        assert forged_form_post(path, files).status_code in (302, 403, 404, 405), path

    assert s3_calls == []
    assert s3.keys() == []


def test_a_session_post_failing_csrf_writes_nothing_to_the_bucket(project, user, s3, s3_calls):
    from django.test import Client
    from django.urls import reverse

    for path in (
        reverse("ingest:job-create", kwargs={"project_id": project.pk}),
        jobs_url(project),
    ):
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(user)
        browser.cookies["csrftoken"] = "x" * 32
        response = browser.post(path, {"files": [text_file("a.txt", 1, 2_000)]})
        assert response.status_code == 403, path

    assert s3_calls == []
    assert s3.keys() == []


def test_a_dashboard_upload_goes_to_the_bucket_once_allowed(project, user, s3):
    from django.test import Client
    from django.urls import reverse

    browser = Client()
    browser.force_login(user)
    content = prose(4, 5_000)

    response = browser.post(
        reverse("ingest:job-create", kwargs={"project_id": project.pk}),
        {"files": [text_file("d.txt", 4, 5_000)], "chunk_size": 1000, "chunk_overlap": 100},
    )

    assert response.status_code == 302
    job = IngestJob.objects.get()
    assert s3.keys() == stored_keys(job)
    key = storage.s3_key(job.files.get().storage_path)
    assert s3.client.get_object(Bucket=s3.name, Key=key)["Body"].read() == content


def test_a_token_upload_streams_to_the_bucket_and_a_session_upload_follows_its_checks(
    project, user, s3
):
    from django.test import Client
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    session = Client()
    session.force_login(user)

    streamed = token.post(jobs_url(project), {"files": [text_file("t.txt", 5, 3_000)]})
    checked = session.post(jobs_url(project), {"files": [text_file("s.txt", 6, 3_000)]})

    assert (streamed.status_code, checked.status_code) == (201, 201)
    by_name = {f.name: f.storage_path for f in IngestFile.objects.all()}
    assert by_name["t.txt"].startswith("uploads/")  # written while the request came in
    assert by_name["s.txt"].startswith(f"jobs/{project.pk}/")  # written once it was allowed
    assert s3.keys() == sorted(storage.s3_key(path) for path in by_name.values())
