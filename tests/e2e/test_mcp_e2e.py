"""The agents' tools driven by the MCP SDK's own client: over stdio against
``manage.py mcp --user`` in a subprocess, and over streamable HTTP against a
live uvicorn at /mcp/, with real rqworker processes doing the work."""

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import anyio.to_thread
import httpx2
import pytest
from django.db import connection
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from rest_framework.authtoken.models import Token

from ingest.models import Document, IngestJob, Role
from jobs.lifecycle import events_for
from tests.conftest import ROOT, client_for, member
from tests.e2e.helpers import job_url, prose
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e]

TOOLS = {
    "list_projects",
    "create_job",
    "get_job",
    "cancel_job",
    "cleanup_job",
    "delete_job",
    "retry_job",
    "search_documents",
}
BASH_README = Path("/usr/share/doc/bash/README.abs-guide")  # a real text file from Debian
HTML = Path("/usr/share/doc/base-passwd/users-and-groups.html")  # Debian's, sent as bytes
NOT_FOUND = "not found: no such item here, or you are not a member."


def stdio(worker_env, username) -> Client:
    params = StdioServerParameters(
        command=sys.executable,
        args=["manage.py", "mcp", "--user", username],
        env=worker_env,
        cwd=str(ROOT),
    )
    return Client(params, read_timeout_seconds=60)


def http(server, token: str) -> Client:
    headers = {"Authorization": f"Bearer {token}"}
    transport = streamable_http_client(
        f"{server.url}/mcp/", http_client=create_mcp_http_client(headers=headers)
    )
    return Client(transport, read_timeout_seconds=60)


async def call(client: Client, tool: str, **arguments) -> tuple[bool, dict]:
    """(is_error, the JSON the tool answered with)."""
    result = await client.call_tool(tool, arguments)
    data = json.loads(result.content[0].text)
    if not result.is_error:
        assert result.structured_content == data
    return bool(result.is_error), data


async def until_finished(client: Client, project: str, job: str) -> dict:
    with anyio.fail_after(90):
        while True:
            error, data = await call(client, "get_job", project=project, job=job)
            assert not error, data
            if data["status"] in ("completed", "failed", "cancelled"):
                return data
            await anyio.sleep(0.2)


def run(session) -> dict:
    """Run an async MCP session from a test; the ORM stays outside it."""
    outcome = {}

    async def main():
        outcome.update(await session())

    anyio.run(main)
    return outcome


def test_stdio_create_completes_then_search_finds_it(project, user, worker_env, start_worker):
    start_worker()
    readme = BASH_README.read_text()

    async def session():
        async with stdio(worker_env, user.username) as client:
            listed = await client.list_tools()
            _, projects = await call(client, "list_projects")
            error, created = await call(
                client,
                "create_job",
                project=project.name,
                name="from an agent",
                chunk_size=400,
                files=[
                    {"name": "bash-abs-guide.txt", "content": readme},
                    {
                        "name": HTML.name,
                        "content_base64": base64.b64encode(HTML.read_bytes()).decode(),
                    },
                ],
            )
            assert not error, created
            finished = await until_finished(client, project.name, created["id"])
            _, found = await call(
                client, "search_documents", project=str(project.pk), query="gnats"
            )
            _, none = await call(client, "search_documents", project=project.name, query="zqxj")
            return {
                "tools": listed.tools,
                "projects": projects,
                "created": created,
                "finished": finished,
                "found": found,
                "none": none,
            }

    out = run(session)

    assert {t.name for t in out["tools"]} == TOOLS
    assert all(len(t.description) > 60 for t in out["tools"])
    assert out["projects"]["results"] == [
        {
            "id": str(project.pk),
            "name": project.name,
            "created_at": out["projects"]["results"][0]["created_at"],
            "role": "owner",
        }
    ]
    created, finished = out["created"], out["finished"]
    assert created["status"] == "queued" and created["name"] == "from an agent"
    assert finished["status"] == "completed", finished
    assert [f["status"] for f in finished["result"]["files"]] == ["done", "done"]
    assert finished["result"]["documents_created"] == 2
    # The same shape and values as the API's representation of the job.
    api_body = client_for(user).get(job_url(project, created["id"])).json()
    assert finished == {**api_body, "url": finished["url"]}
    assert api_body["url"].endswith(finished["url"])
    html_document = Document.objects.get(job_id=created["id"], source_file__name=HTML.name)
    assert [d["id"] for d in out["found"]["results"]] == [str(html_document.pk)]
    assert out["found"]["count"] == 1 and out["none"] == {"count": 0, "results": []}
    # A hit as the API gives it: its rank and a snippet with the word marked.
    api_hits = client_for(user).get(f"/api/projects/{project.pk}/documents/?q=gnats").json()
    assert out["found"]["results"] == api_hits["results"]
    assert "<mark>gnats</mark>" in out["found"]["results"][0]["snippet"].lower()
    job = IngestJob.objects.get(pk=created["id"])
    assert events_for(job).get(action="create").actor == user


def test_stdio_refusals_read_as_the_api_words_them(project, user, worker_env, start_worker):
    viewer = member(project, Role.VIEWER)
    outsider = UserFactory()
    start_worker()

    async def as_owner():
        async with stdio(worker_env, user.username) as client:
            _, job = await call(
                client,
                "create_job",
                project=project.name,
                files=[{"name": "a.txt", "content": prose(1, 3000).decode()}],
            )
            await until_finished(client, project.name, job["id"])
            return {
                "job": job,
                "cancel_done": await call(
                    client, "cancel_job", project=project.name, job=job["id"]
                ),
                "retry": await call(client, "retry_job", project=project.name, job=job["id"]),
                "bad_base64": await call(
                    client,
                    "create_job",
                    project=project.name,
                    files=[{"name": "x.pdf", "content_base64": "not base64!"}],
                ),
                "no_files": await call(client, "create_job", project=project.name, files=[]),
                "bad_chunking": await call(
                    client,
                    "create_job",
                    project=project.name,
                    chunk_size=10,
                    files=[{"name": "a.txt", "content": "hello"}],
                ),
                "unknown_project": await call(client, "get_job", project="nope", job=job["id"]),
                "nul_project": await call(client, "get_job", project="a\x00b", job=job["id"]),
                "nul_reason": await call(
                    client, "cancel_job", project=project.name, job=job["id"], reason="a\x00"
                ),
                "nul_file": await call(
                    client,
                    "create_job",
                    project=project.name,
                    files=[{"name": "a\x00.txt", "content": "hello"}],
                ),
                "dot_files": [
                    await call(
                        client,
                        "create_job",
                        project=project.name,
                        files=[{"name": name, "content": "hello"}],
                    )
                    for name in (".", "..")
                ],
                # MIME writes base64 in lines of 76 (RFC 2045).
                "base64_lines": await call(
                    client,
                    "create_job",
                    project=project.name,
                    files=[
                        {
                            "name": "lines.txt",
                            "content_base64": base64.encodebytes(prose(2, 3000)).decode(),
                        }
                    ],
                ),
                "unknown_job": await call(client, "get_job", project=project.name, job="12"),
            }

    owner = run(as_owner)
    job_id = owner["job"]["id"]

    async def as_viewer():
        async with stdio(worker_env, viewer.username) as client:
            return {
                "read": await call(client, "get_job", project=project.name, job=job_id),
                "delete": await call(client, "delete_job", project=project.name, job=job_id),
            }

    async def as_outsider():
        async with stdio(worker_env, outsider.username) as client:
            return {
                "projects": await call(client, "list_projects"),
                "get": await call(client, "get_job", project=str(project.pk), job=job_id),
                "search": await call(
                    client, "search_documents", project=str(project.pk), query="seed"
                ),
            }

    seen_by_viewer, seen_by_outsider = run(as_viewer), run(as_outsider)

    api_cancel = client_for(user).post(job_url(project, job_id, "cancel/")).json()
    assert owner["cancel_done"] == (True, api_cancel)
    assert api_cancel["code"] == "invalid_state" and "completed" in api_cancel["detail"]
    # A completed job with every file done has nothing to retry: refused as the API does.
    api_retry = client_for(user).post(job_url(project, job_id, "retry/")).json()
    assert owner["retry"] == (True, api_retry)
    assert api_retry["code"] == "invalid_state"
    assert owner["bad_base64"] == (
        True,
        {
            "detail": "files: files[0] (x.pdf) content_base64 is not valid base64.",
            "code": "invalid",
        },
    )
    assert owner["no_files"] == (
        True,
        {"detail": "files: attach one or more files.", "code": "invalid"},
    )
    assert owner["bad_chunking"] == (
        True,
        {
            "detail": "chunk_size: chunk_size must be between 50 and 100000 characters.",
            "code": "invalid",
        },
    )
    assert owner["unknown_project"] == (True, {"detail": NOT_FOUND, "code": "not_found"})
    assert owner["nul_project"] == (
        True,
        {"detail": "project: cannot hold a NUL character.", "code": "invalid"},
    )
    assert owner["nul_reason"] == (
        True,
        {"detail": "reason: cannot hold a NUL character.", "code": "invalid"},
    )
    assert owner["nul_file"] == (
        True,
        {"detail": "files[0].name: cannot hold a NUL character.", "code": "invalid"},
    )
    assert owner["dot_files"] == [
        (
            True,
            {
                "detail": f"files: {name!r} is not a file name: give each file a name of its own.",
                "code": "invalid",
            },
        )
        for name in (".", "..")
    ]
    lines_error, lines_job = owner["base64_lines"]
    assert not lines_error, lines_job
    stored = IngestJob.objects.get(pk=lines_job["id"]).files.get()
    assert stored.sha256 == hashlib.sha256(prose(2, 3000)).hexdigest()
    assert owner["unknown_job"] == (True, {"detail": NOT_FOUND, "code": "not_found"})
    assert seen_by_viewer["read"][1]["status"] == "completed"
    api_delete = client_for(viewer).delete(job_url(project, job_id)).json()
    assert seen_by_viewer["delete"] == (True, api_delete)
    assert api_delete["detail"] == "viewers can read this project but not change anything in it."
    assert seen_by_outsider["projects"] == (False, {"count": 0, "results": []})
    assert seen_by_outsider["get"] == (True, {"detail": NOT_FOUND, "code": "not_found"})
    assert seen_by_outsider["search"] == seen_by_outsider["get"]
    assert IngestJob.objects.get(pk=job_id).status == "completed"


def test_stdio_refuses_a_user_deactivated_while_it_serves(project, user, worker_env):
    def deactivate():
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        connection.close()  # this thread's own

    async def session():
        async with stdio(worker_env, user.username) as client:
            before = await call(client, "list_projects")
            await anyio.to_thread.run_sync(deactivate)
            after = await call(
                client,
                "create_job",
                project=project.name,
                files=[{"name": "a.txt", "content": prose(1, 3000).decode()}],
            )
            return {"before": before, "after": after}

    seen = run(session)

    assert seen["before"][0] is False and seen["before"][1]["count"] == 1
    assert seen["after"] == (
        True,
        {
            "detail": "this user is no longer active, so no tool acts for it; ask an administrator.",
            "code": "not_authenticated",
        },
    )
    assert not IngestJob.objects.exists()


def test_mcp_command_refuses_an_unknown_user(worker_env):
    done = subprocess.run(
        [sys.executable, "manage.py", "mcp", "--user", "nobody-here"],
        cwd=ROOT,
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "no active user is called 'nobody-here'." in done.stderr


def test_http_cancel_delete_and_cleanup_as_the_token_user(
    project, user, start_web, start_worker, settings
):
    token = Token.objects.create(user=user).key
    other = UserFactory()
    MembershipFactory(project=ProjectFactory(), user=other, role=Role.OWNER)
    other_token = Token.objects.create(user=other).key
    server = start_web()
    worker = start_worker()
    big = base64.b64encode(prose(7, 8_000_000)).decode()

    async def session():
        async with http(server, token) as client:
            _, job = await call(
                client,
                "create_job",
                project=str(project.pk),
                chunk_size=50,
                files=[
                    {"name": "small.txt", "content": prose(6, 20_000).decode()},
                    {"name": "big.txt", "content_base64": big},
                ],
            )
            with anyio.fail_after(60):
                while (await call(client, "get_job", project=project.name, job=job["id"]))[1][
                    "progress"
                ]["files_done"] < 1:
                    await anyio.sleep(0.05)
            # Paused, the work horse cannot race the cancel to the end of
            # big.txt: on SQLite a cancel sent while it wrote could wait out
            # the file and find the job completed (see freeze_horse).
            horse = await anyio.to_thread.run_sync(worker.freeze_horse)
            try:
                _, cancelling = await call(
                    client,
                    "cancel_job",
                    project=project.name,
                    job=job["id"],
                    reason="agent said so",
                )
            finally:
                os.kill(horse, signal.SIGCONT)
            cancelled = await until_finished(client, project.name, job["id"])
            cleaned = await call(client, "cleanup_job", project=project.name, job=job["id"])
            again = await call(client, "cleanup_job", project=project.name, job=job["id"])
            deleted = await call(client, "delete_job", project=project.name, job=job["id"])
            gone = await call(client, "get_job", project=project.name, job=job["id"])
        async with http(server, other_token) as client:
            foreign = await call(client, "get_job", project=str(project.pk), job=job["id"])
        return {
            "job": job,
            "cancelling": cancelling,
            "cancelled": cancelled,
            "cleaned": cleaned,
            "again": again,
            "deleted": deleted,
            "gone": gone,
            "foreign": foreign,
        }

    out = run(session)

    assert out["cancelling"]["status"] in ("cancelling", "cancelled")
    assert out["cancelled"]["status"] == "cancelled" and out["cancelled"]["result"]["partial"]
    files = {f["name"]: f["status"] for f in out["cancelled"]["result"]["files"]}
    assert files == {"small.txt": "done", "big.txt": "not_reached"}
    error, cleaned = out["cleaned"]
    assert not error and cleaned["files_removed"] == 2 and cleaned["removed_anything"]
    assert out["again"][1]["detail"] == "nothing to remove: this job was already cleaned up."
    error, deleted = out["deleted"]
    job = IngestJob.all_objects.get(pk=out["job"]["id"])
    assert not error and deleted["status"] == "cancelled"
    assert deleted["purge_at"] is not None and job.deleted_at is not None
    assert out["gone"] == (True, {"detail": NOT_FOUND, "code": "not_found"})
    assert out["foreign"] == out["gone"]
    trail = {e.action: e for e in events_for(job)}
    for action in ("create", "cancel", "cleanup", "delete"):
        assert trail[action].actor == user, action
    assert trail["cancel"].reason == "agent said so"


def test_http_refuses_a_request_without_a_valid_token(user, start_web):
    server = start_web()
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    for auth in (None, "Bearer wrong", "Basic abc"):
        sent = {**headers, **({"Authorization": auth} if auth else {})}
        response = httpx2.post(f"{server.url}/mcp/", json=body, headers=sent, timeout=30)
        assert response.status_code == 401
        assert response.json() == {
            "detail": "send your API token as 'Authorization: Bearer <token>'.",
            "code": "not_authenticated",
        }
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_http_calls_share_the_apis_rate_limit_and_open_no_stream(user, project, start_web):
    token = Token.objects.create(user=user).key
    server = start_web(API_THROTTLE_USER="4/minute", INGEST_MCP_MAX_BODY_BYTES="100000")
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"}
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}

    def mcp(**body):
        sent = {**headers, "Content-Type": "application/json"}
        return httpx2.post(f"{server.url}/mcp/", headers=sent, timeout=30, **body)

    stream = httpx2.get(f"{server.url}/mcp/", headers=headers, timeout=30)
    too_big = mcp(content=b"x" * 100_001)
    calls = [mcp(content=json.dumps(listing)).status_code for _ in range(3)]
    api = httpx2.get(
        f"{server.url}/api/projects/", headers={"Authorization": f"Token {token}"}, timeout=30
    )
    after = mcp(content=json.dumps(listing))

    assert (stream.status_code, stream.headers["allow"]) == (405, "POST, DELETE")
    assert stream.json()["code"] == "method_not_allowed"
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "too_large"
    assert calls == [200, 200, 200]  # with the one too big, four: the allowance
    assert api.status_code == 429  # the API's count is the same count
    assert after.status_code == 429
    assert after.json()["code"] == "throttled"
    assert int(after.headers["retry-after"]) > 0
