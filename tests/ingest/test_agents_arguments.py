"""Tool arguments over the real ``/mcp/`` app (lifespan, token, JSON-RPC): an
argument or a file field a tool does not take is refused, not ignored, and
every argument refusal has the tools' ``{"detail", "code"}`` shape."""

import asyncio
import json

import pytest
from rest_framework.authtoken.models import Token

from ingest.agents.http import mcp_app
from ingest.models import IngestJob
from tests.asgi import http_scope

# The tools run on the SDK's threads, which see only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


async def serving(app, calls):
    """Run ``calls()`` while the app's lifespan (the SDK's session manager) runs."""
    events = asyncio.Queue()
    started = asyncio.Event()
    await events.put({"type": "lifespan.startup"})

    async def receive():
        return await events.get()

    async def send(message):
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    )
    await started.wait()
    try:
        return await calls()
    finally:
        await events.put({"type": "lifespan.shutdown"})
        await lifespan


async def call_tool(app, token: str, name: str, arguments) -> tuple[bool, dict]:
    """One tools/call over HTTP: (is_error, the JSON the tool answered with)."""
    call = {"name": name, "arguments": arguments}
    answer = await post(
        app, token, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}
    )
    result = json.loads(answer)["result"]
    return bool(result.get("isError")), json.loads(result["content"][0]["text"])


async def post(app, token: str, message: dict) -> bytes:
    """One JSON-RPC message over HTTP: the answer's body, as sent."""
    body = json.dumps(message).encode()
    headers = {
        "host": "testserver",
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "content-length": str(len(body)),
    }
    scope = http_scope(headers=[(k.encode(), v.encode()) for k, v in headers.items()])
    parts = [body]
    sent = []

    async def receive():
        if parts:
            return {"type": "http.request", "body": parts.pop(), "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the answer is made

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    answer = b"".join(m.get("body", b"") for m in sent[1:])
    assert int(dict(sent[0]["headers"])[b"content-length"]) == len(answer)
    return answer


def answers(user, *calls) -> list[tuple[bool, dict]]:
    token = Token.objects.create(user=user).key
    app = mcp_app()

    async def each():
        return [await call_tool(app, token, name, arguments) for name, arguments in calls]

    return asyncio.run(serving(app, each))


def test_an_argument_a_tool_does_not_take_is_refused(user, project):
    text_file = {"name": "a.txt", "content": "words"}
    (get, create) = answers(
        user,
        ("get_job", {"project": str(project.pk), "job": "x", "verbose": True}),
        ("create_job", {"project": str(project.pk), "files": [text_file], "priority": 9}),
    )

    assert get == (
        True,
        {
            "detail": "verbose: get_job takes no such argument; it takes job, project.",
            "code": "invalid",
        },
    )
    assert create[0] is True
    assert create[1]["detail"].startswith("priority: create_job takes no such argument;")
    assert not IngestJob.all_objects.exists()


def test_a_file_field_the_tool_does_not_take_is_refused(user, project):
    ((error, data),) = answers(
        user,
        (
            "create_job",
            {"project": str(project.pk), "files": [{"name": "a.txt", "content": "x", "mode": 1}]},
        ),
    )

    assert (error, data) == (
        True,
        {
            "detail": "files[0].mode: no such field here; see the tool's input schema.",
            "code": "invalid",
        },
    )
    assert not IngestJob.all_objects.exists()


def test_arguments_the_schema_refuses_are_answered_in_the_tools_shape(user, project):
    wrong_type, missing, bad_file, unknown_tool = answers(
        user,
        ("get_job", {"project": 5, "job": "x"}),
        ("get_job", {"project": str(project.pk)}),
        ("create_job", {"project": str(project.pk), "files": [{"content": "x"}]}),
        ("drop_tables", {}),
    )

    assert wrong_type == (
        True,
        {"detail": "project: input should be a valid string.", "code": "invalid"},
    )
    assert missing == (True, {"detail": "job: this is required.", "code": "invalid"})
    assert bad_file == (True, {"detail": "files[0].name: this is required.", "code": "invalid"})
    assert unknown_tool[0] is True
    assert unknown_tool[1]["code"] == "not_found"
    assert "drop_tables" in unknown_tool[1]["detail"]


def test_a_call_with_the_arguments_a_tool_takes_still_runs(user, project):
    ((error, job),) = answers(
        user,
        (
            "create_job",
            {"project": str(project.pk), "name": "n", "files": [{"name": "a.txt", "content": "x"}]},
        ),
    )

    assert not error, job
    assert (job["name"], job["status"]) == ("n", "queued")


def test_an_answer_does_not_repeat_a_long_name_whole(user):
    name = "x" * 1_000_000
    token = Token.objects.create(user=user).key
    app = mcp_app()

    async def calls():
        tool = await call_tool(app, token, name, {})
        unknown_argument = await call_tool(app, token, "list_projects", {name: 1})
        method = await post(app, token, {"jsonrpc": "2.0", "id": 7, "method": name, "params": {}})
        return tool, unknown_argument, method

    (tool_error, tool), (argument_error, argument), method = asyncio.run(serving(app, calls))

    assert tool_error and tool["code"] == "not_found"
    assert tool["detail"].startswith(f"there is no tool called '{'x' * 80}…'")
    assert argument_error and argument["detail"].startswith(f"{'x' * 80}…: list_projects")
    assert json.loads(method) == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {
            "code": -32601,
            "message": "Method not found",
            "data": "the call sent something too long to repeat here.",
        },
    }
    assert max(len(tool["detail"]), len(argument["detail"]), len(method)) < 1000


def test_an_answer_does_not_repeat_a_long_id_whole(user):
    long_id = "i" * 1_000_000
    token = Token.objects.create(user=user).key
    app = mcp_app()

    async def calls():
        listing = {"jsonrpc": "2.0", "method": "tools/list", "params": {}}
        short = await post(app, token, {**listing, "id": 1})
        long = await post(app, token, {**listing, "id": long_id})
        unknown = await post(app, token, {"jsonrpc": "2.0", "id": long_id, "method": "nosuch"})
        return short, long, unknown

    short, long, unknown = asyncio.run(serving(app, calls))

    cut = "i" * 200 + "…"
    assert json.loads(long) == {**json.loads(short), "id": cut}  # the same tools
    assert len(long) < len(short) + 1_000
    assert json.loads(unknown)["id"] == cut
    assert len(unknown) < 1_000
