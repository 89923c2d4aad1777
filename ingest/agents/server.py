"""The agents' tools as an MCP server (the official ``mcp`` SDK's ``MCPServer``).

One server definition for both transports: ``manage.py mcp --user`` serves it
over stdio as one fixed user, and ``/mcp/`` serves it over streamable HTTP as
the user of each request's API token. ``user_for(ctx)`` says which.

The tools are synchronous (the SDK runs them on a worker thread, where the
ORM is allowed); each closes its database connection when done, as Django
does after a request, since worker threads are pooled and outlive the call.

Arguments are held to each tool's input schema as the API holds a request to
its serializer: an argument or a file field the tool does not take is
refused rather than ignored, and what the SDK's validation refuses (a wrong
type, a missing argument) is answered in the same ``{"detail", "code"}``
shape as every other refusal, not as the SDK's own text.
"""

import json
from collections.abc import Callable
from typing import Annotated, Any

from django.contrib.auth import get_user_model
from django.db import close_old_connections
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest.agents import tools

INSTRUCTIONS = (
    "Ingest documents into a project's knowledge base and search them. Start with "
    "list_projects; create_job uploads files and answers at once with a queued job; poll "
    "get_job until its status is completed, failed or cancelled; then search_documents. "
    "Results are JSON as the service's HTTP API shows them; refusals are JSON with a "
    '"detail" sentence saying what to do and a "code".'
)

ProjectArg = Annotated[str, Field(description="the project's id, or its name")]
JobArg = Annotated[str, Field(description="the job's id (from create_job or get_job)")]


class FileArg(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="the file's name, e.g. notes.md; its extension helps judge the type"
    )
    content: str | None = Field(default=None, description="the file's text (UTF-8)")
    content_base64: str | None = Field(
        default=None, description="the file's bytes in base64, for PDF, Office, zip..."
    )


def acting_as(pk) -> Callable[[Context], Any]:
    """``user_for`` for a server that acts as one user (stdio): the user is read
    again for each call, so one deactivated meanwhile is refused from then on."""

    def user_for(ctx: Context):
        user = get_user_model().objects.filter(pk=pk, is_active=True).first()
        if user is None:
            raise tools.Refusal(
                "this user is no longer active, so no tool acts for it; ask an administrator.",
                "not_authenticated",
            )
        return user

    return user_for


class CheckedServer(MCPServer):
    """The SDK's server, with each call's arguments checked first and its
    validation refusals in the tools' own shape."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        known = await self.arguments_of(name)
        if known is None:
            refusal = tools.Refusal(
                f"there is no tool called {_short(name)!r}; list the tools to see their names.",
                "not_found",
            )
            return _result(refusal.as_dict(), error=True)
        if unknown := sorted(set(arguments) - known):
            takes = ", ".join(sorted(known)) or "no arguments"
            refusal = tools.Refusal(
                f"{_short(unknown[0])}: {name} takes no such argument; it takes {takes}.",
                "invalid",
            )
            return _result(refusal.as_dict(), error=True)
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if not isinstance(exc.__cause__, ValidationError):
                raise
            return _result(invalid_arguments(exc.__cause__).as_dict(), error=True)

    async def arguments_of(self, name: str) -> set[str] | None:
        """The names of the tool's arguments, from its input schema; None for no such tool."""
        for tool in await self.list_tools():
            if tool.name == name:
                return set(tool.input_schema.get("properties", {}))
        return None


def invalid_arguments(error: ValidationError) -> tools.Refusal:
    """The first problem pydantic found, worded as the API words a field error."""
    first = error.errors()[0]
    where = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
    ).lstrip(".")
    if first["type"] == "missing":
        problem = "this is required."
    elif first["type"] == "extra_forbidden":
        problem = "no such field here; see the tool's input schema."
    else:
        problem = first["msg"][0].lower() + first["msg"][1:].rstrip(".") + "."
    return tools.Refusal(f"{where}: {problem}" if where else problem, "invalid")


def build_server(user_for: Callable[[Context], Any]) -> MCPServer:
    server = CheckedServer("ingest", instructions=INSTRUCTIONS)

    def call(ctx: Context, tool: Callable[..., dict], **arguments) -> CallToolResult:
        try:
            tools.refuse_nul(arguments)
            data = tool(user_for(ctx), **arguments)
        except tools.Refusal as refusal:
            return _result(refusal.as_dict(), error=True)
        except Exception as exc:
            refusal = tools.refusal_for(exc)
            if refusal is None:
                raise
            return _result(refusal.as_dict(), error=True)
        finally:
            close_old_connections()
        return _result(data)

    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False)

    @server.tool(annotations=read_only)
    def list_projects(ctx: Context) -> CallToolResult:
        """The projects you are a member of, with your role in each (viewer, member or owner).
        Viewers can read a project; members and owners can also create, cancel, clean up and
        delete its jobs."""
        return call(ctx, tools.list_projects)

    @server.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=False))
    def create_job(
        ctx: Context,
        project: ProjectArg,
        files: Annotated[
            list[FileArg],
            Field(description="the files: each {name, content} for text or {name, content_base64}"),
        ],
        name: Annotated[str, Field(description="a name for the job; default: from the files")] = "",
        chunk_size: Annotated[
            int | None, Field(description="characters per chunk, 50 to 100000")
        ] = None,
        chunk_overlap: Annotated[
            int | None, Field(description="characters shared by neighbouring chunks")
        ] = None,
    ) -> CallToolResult:
        """Upload files as a new ingest job. It answers at once with the job QUEUED; a
        worker then extracts each file's text (text, Markdown, HTML, CSV, JSON, PDF, Word,
        PowerPoint, Excel, EPUB, e-mail, zip), deduplicates it within the project and
        chunks it into documents. Poll get_job until the status is completed, failed or
        cancelled."""
        return call(
            ctx,
            tools.create_job,
            project=project,
            files=[f.model_dump() for f in files],
            name=name,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
        )

    @server.tool(annotations=read_only)
    def get_job(ctx: Context, project: ProjectArg, job: JobArg) -> CallToolResult:
        """A job's status (queued, running, cancelling, completed, failed, cancelled), its
        progress (files_failed among them), the actions it allows now (cancel, retry,
        cleanup, delete), and per file its state: waiting, reading (bytes_read so far),
        done, duplicate, failed, or not_reached once the job ended; with the document
        it produced and its chunk count."""
        return call(ctx, tools.get_job, project=project, job=job)

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
    def cancel_job(
        ctx: Context,
        project: ProjectArg,
        job: JobArg,
        reason: Annotated[str, Field(description="why, kept in the audit trail")] = "",
    ) -> CallToolResult:
        """Cancel a job. A queued job is cancelled at once; a running one becomes
        cancelling and stops at its next checkpoint, keeping the files it finished
        (poll get_job until cancelled). A finished job cannot be cancelled."""
        return call(ctx, tools.cancel_job, project=project, job=job, reason=reason)

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
    def cleanup_job(
        ctx: Context,
        project: ProjectArg,
        job: JobArg,
        documents: Annotated[
            bool, Field(description="also remove the documents only this job produced")
        ] = False,
    ) -> CallToolResult:
        """Free what a finished job leaves behind: its stored uploads, work directory and
        queue entries (and with documents=true, the documents no other job produced).
        Answers with counts of what was removed; a second call removes nothing and says
        so."""
        return call(ctx, tools.cleanup_job, project=project, job=job, documents=documents)

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=False))
    def delete_job(
        ctx: Context,
        project: ProjectArg,
        job: JobArg,
        force: Annotated[
            bool, Field(description="cancel an active job first, then delete it once cancelled")
        ] = False,
    ) -> CallToolResult:
        """Delete a finished job: it disappears from lists and lookups, its documents stay
        in the project, and it is purged for good at purge_at. An active job is refused
        unless force=true."""
        return call(ctx, tools.delete_job, project=project, job=job, force=force)

    @server.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=False))
    def retry_job(ctx: Context, project: ProjectArg, job: JobArg) -> CallToolResult:
        """Retry a failed or cancelled job as a new job holding only the files that did not
        finish, from the uploads already stored."""
        return call(ctx, tools.retry_job, project=project, job=job)

    @server.tool(annotations=read_only)
    def search_documents(
        ctx: Context,
        project: ProjectArg,
        query: Annotated[str, Field(description="words to find in titles and text")],
    ) -> CallToolResult:
        """Search the project's documents by title and text: the count and the first 25
        matches, best first, each with its rank, a snippet (HTML, the matched words in
        <mark>) and its source job and file."""
        return call(ctx, tools.search_documents, project=project, query=query)

    return server


def _short(name: str) -> str:
    """A name the caller sent, cut short when it is long."""
    return name if len(name) <= 80 else name[:80] + "…"


def _result(data: dict, *, error: bool = False) -> CallToolResult:
    text = json.dumps(data, ensure_ascii=False)
    if error:
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)
