"""A request's body as the web process started by the Procfile reads it: none
larger than INGEST_MAX_REQUEST_BYTES is read to disk first, and an upload
sent chunked (no Content-Length) is read as the same upload sent whole."""

import uuid

import httpx2
import pytest
from rest_framework.authtoken.models import Token

from ingest.models import IngestJob

pytestmark = [pytest.mark.e2e]
LIMIT = 200_000


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


def chunks(body: bytes, size: int = 16_384, sent: list | None = None):
    for start in range(0, len(body), size):
        if sent is not None:
            sent.append(size)
        yield body[start : start + size]


def test_a_chunked_upload_is_read_as_the_same_upload_sent_whole(start_web, user, project):
    server = start_web()
    token = Token.objects.create(user=user).key
    body, kind = multipart("notes.txt", b"Chunked words arrive whole. " * 2_000)
    headers = {"Authorization": f"Token {token}", "Content-Type": kind}

    with httpx2.Client(base_url=server.url, timeout=30) as client:
        answer = client.post(
            f"/api/projects/{project.pk}/ingest/jobs/", content=chunks(body), headers=headers
        )

    assert answer.status_code == 201, answer.text
    assert [f["name"] for f in answer.json()["result"]["files"]] == ["notes.txt"]
    assert IngestJob.objects.get(pk=answer.json()["id"]).bytes_total == 56_000


@pytest.mark.parametrize("sent", ["declared", "chunked"])
def test_a_body_past_the_limit_is_refused_before_it_is_read(start_web, user, project, sent):
    server = start_web(INGEST_MAX_REQUEST_BYTES=str(LIMIT))
    token = Token.objects.create(user=user).key
    body, kind = multipart("big.txt", b"x" * (LIMIT * 5))
    content = body if sent == "declared" else chunks(body)
    api = {"Authorization": f"Token {token}", "Content-Type": kind}

    with httpx2.Client(base_url=server.url, timeout=30) as client:
        upload = client.post(
            f"/api/projects/{project.pk}/ingest/jobs/", content=content, headers=api
        )
        sent = []
        anonymous = client.post("/healthz", content=chunks(b"y" * (LIMIT * 50), sent=sent))
        after = client.get("/healthz")

    assert upload.status_code == 413
    assert upload.json() == {
        "detail": f"the request's body is over the limit of {LIMIT} bytes.",
        "code": "too_large",
    }
    assert anonymous.status_code == 413
    assert anonymous.text == f"The request's body is over the limit of {LIMIT} bytes."
    assert sum(sent) < LIMIT * 50, "the client sent it all: the server read it all"
    assert after.status_code == 200
    assert not IngestJob.objects.exists()
