"""A request's body as the web process started by the Procfile reads it: none
larger than the request may send is read to disk first (an upload from a
signed-in caller: INGEST_MAX_REQUEST_BYTES; anything else: a form's size),
and an upload sent chunked (no Content-Length) is read as the same upload
sent whole."""

import uuid

import httpx2
import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from ingest.models import IngestJob

pytestmark = [pytest.mark.e2e]
LIMIT = 4_000_000  # of an upload, here
FORM = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 64 * 1024  # of anything else


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: text/plain\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def chunks(body: bytes, size: int = 65_536, sent: list | None = None):
    for start in range(0, len(body), size):
        if sent is not None:
            sent.append(size)
        yield body[start : start + size]


def words(size: int) -> bytes:
    return (b"Chunked words arrive whole. " * (size // 28 + 1))[:size]


def test_a_chunked_upload_is_read_as_the_same_upload_sent_whole(start_web, user, project):
    server = start_web(INGEST_MAX_REQUEST_BYTES=str(LIMIT))
    token = Token.objects.create(user=user).key
    body, kind = multipart("notes.txt", words(3_000_000))  # more than a form may send
    headers = {"Authorization": f"Token {token}", "Content-Type": kind}

    with httpx2.Client(base_url=server.url, timeout=60) as client:
        answer = client.post(
            f"/api/projects/{project.pk}/ingest/jobs/", content=chunks(body), headers=headers
        )

    assert answer.status_code == 201, answer.text
    assert [f["name"] for f in answer.json()["result"]["files"]] == ["notes.txt"]
    assert IngestJob.objects.get(pk=answer.json()["id"]).bytes_total == 3_000_000


@pytest.mark.parametrize("sent", ["declared", "chunked"])
def test_a_body_past_the_limit_is_refused_before_it_is_read(start_web, user, project, sent):
    server = start_web(INGEST_MAX_REQUEST_BYTES=str(LIMIT))
    token = Token.objects.create(user=user).key
    body, kind = multipart("big.txt", b"x" * (LIMIT * 2))
    content = body if sent == "declared" else chunks(body)
    api = {"Authorization": f"Token {token}", "Content-Type": kind}
    jobs = f"/api/projects/{project.pk}/ingest/jobs/"

    with httpx2.Client(base_url=server.url, timeout=60) as client:
        upload = client.post(jobs, content=content, headers=api)
        sent_anonymously = []
        anonymous = client.post(
            "/healthz", content=chunks(b"y" * (LIMIT * 10), sent=sent_anonymously)
        )
        small, kind = multipart("small.txt", b"z" * (FORM + 1))
        signed_out = client.post(jobs, content=small, headers={"Content-Type": kind})
        after = client.get("/healthz")

    assert upload.status_code == 413
    assert upload.json() == {
        "detail": f"the request's body is over the limit of {LIMIT} bytes.",
        "code": "too_large",
    }
    assert anonymous.status_code == 413
    assert anonymous.text == f"The request's body is over the limit of {FORM} bytes."
    assert sum(sent_anonymously) < LIMIT * 10, "the client sent it all: the server read it all"
    assert signed_out.status_code == 413
    assert signed_out.json()["detail"] == (
        f"sign in to send files: until then a request's body may be {FORM} bytes."
    )
    assert after.status_code == 200
    assert not IngestJob.objects.exists()


def test_a_signed_in_session_sends_an_upload_through_the_dashboard(start_web, user, project):
    server = start_web(INGEST_MAX_REQUEST_BYTES=str(LIMIT))
    body, kind = multipart("page.txt", words(3_000_000))

    with httpx2.Client(base_url=server.url, timeout=60) as browser:
        browser.get("/login/")
        login = {
            "username": user.username,
            "password": "password",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        }
        browser.post("/login/", data=login, headers={"Referer": f"{server.url}/login/"})
        headers = {
            "Content-Type": kind,
            "X-CSRFToken": browser.cookies["csrftoken"],
            "Referer": f"{server.url}/projects/{project.pk}/",
        }
        answer = browser.post(f"/projects/{project.pk}/jobs/new/", content=body, headers=headers)

    assert answer.status_code != 413, answer.text
    assert IngestJob.objects.filter(project=project).count() == 1
