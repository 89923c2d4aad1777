"""The client library: ``IngestClient`` and what it sends and reads."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

from ingest.client import follow, present
from ingest.pipeline import readers

BLOCK = 256 * 1024
SNIFF_BYTES = 4096
BAD_INPUT_CODES = frozenset({400, 401, 403, 404, 405, 413, 415})


class ApiError(Exception):
    """The server refused a request, or could not be reached. ``detail`` is a
    sentence a person can act on; ``status`` is 0 when no answer came."""

    def __init__(self, detail: str, *, status: int = 0, code: str = ""):
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.code = code

    @property
    def exit_status(self) -> int:
        return follow.BAD_INPUT if self.status in BAD_INPUT_CODES else follow.FAILED


class IngestClient:
    def __init__(self, url: str, token: str, *, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._project_ids: dict[str, str] = {}

    # --- projects ---------------------------------------------------------------

    def projects(self) -> list[dict]:
        """The projects the token's user is a member of."""
        return self._all_pages("/api/projects/")

    def project_id(self, project: str) -> str:
        """A project's id from its id or its name."""
        try:
            return str(uuid.UUID(str(project)))
        except ValueError:
            pass
        if project not in self._project_ids:
            named = [p for p in self.projects() if p["name"] == project]
            if len(named) != 1:
                raise ApiError(
                    f"several of your projects are called {project!r}; give the project's id."
                    if named
                    else f"you are not a member of any project called {project!r}.",
                    status=404,
                )
            self._project_ids[project] = named[0]["id"]
        return self._project_ids[project]

    # --- jobs -------------------------------------------------------------------

    def create(
        self,
        project: str,
        paths: Iterable[str],
        *,
        on_skip: Callable[[str], None] | None = None,
        **options,
    ) -> dict:
        """Send the files and folders (walked recursively) as a new job; returns
        the job. ``on_skip`` hears one line per file left out; ``options`` are
        those of :meth:`create_from`."""
        files, skipped = follow.collect(paths, refusal)
        for line in skipped:
            if on_skip:
                on_skip(line)
        return self.create_from(project, files, **options)

    def create_from(
        self,
        project: str,
        files: list[follow.LocalFile],
        *,
        name: str = "",
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        idempotency_key: str = "",
        on_upload: Callable[[int], None] | None = None,
    ) -> dict:
        """A new job from files already collected; ``on_upload`` hears each block sent."""
        fields = {"name": name, "chunk_size": chunk_size, "chunk_overlap": chunk_overlap}
        body = Multipart({k: v for k, v in fields.items() if v not in (None, "")}, files)
        headers = {"Content-Type": body.content_type, "Content-Length": str(body.length)}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return self._call("POST", self._jobs(project), body=body.stream(on_upload), headers=headers)

    def get(self, project: str, job_id: str) -> dict:
        return self._call("GET", self._jobs(project, job_id))

    def events(self, project: str, job_id: str) -> list[dict]:
        """The job's audit trail, oldest first."""
        return self._all_pages(self._jobs(project, job_id, "events/"))

    def list(self, project: str, *, status: str | None = None, limit: int = 100) -> list[dict]:
        """The project's jobs, newest first."""
        query = {"status": status} if status else {}
        return self._all_pages(self._jobs(project), query, limit=limit)

    def cancel(self, project: str, job_id: str, *, reason: str = "") -> dict:
        return self._call("POST", self._jobs(project, job_id, "cancel/"), data={"reason": reason})

    def cleanup(self, project: str, job_id: str, *, documents: bool = False) -> dict:
        """Remove what a finished job left behind; returns the counts and a ``detail``."""
        path = self._jobs(project, job_id, "cleanup/")
        return self._call("POST", path, data={"documents": documents})

    def retry(self, project: str, job_id: str) -> dict:
        """A new job for the files this finished job did not finish; returns it."""
        return self._call("POST", self._jobs(project, job_id, "retry/"))

    def delete(self, project: str, job_id: str, *, force: bool = False) -> dict | None:
        """Soft-delete a finished job (None); with ``force``, an active job is
        cancelled and deleted once it stops (the job is returned)."""
        query = {"force": "true"} if force else {}
        return self._call("DELETE", self._jobs(project, job_id), query=query)

    def wait(
        self,
        project: str,
        job_id: str,
        *,
        out=None,
        err=None,
        stdin=None,
        interval: float = 0.5,
        bar: bool | None = None,
        patience: float = 60.0,
        hint: str = "",
    ) -> follow.Outcome:
        """Follow the job until it ends, with the progress bar and the Ctrl-C
        prompt of ``manage.py ingest``. The server may be unreachable for up
        to ``patience`` seconds (a restart) before this gives up."""
        err = err or sys.stderr
        fetch = Patient(lambda: self.get(project, job_id), patience=patience, err=err)
        return follow.follow(
            fetch,
            lambda: self._cancel_while_following(project, job_id),
            out=out or sys.stdout,
            err=err,
            stdin=stdin,
            interval=interval,
            bar=bar,
            hint=hint,
        )

    def _cancel_while_following(self, project: str, job_id: str) -> dict:
        try:
            return self.cancel(project, job_id, reason="cancelled from the remote client")
        except ApiError as exc:
            if exc.status == 409:  # it finished meanwhile
                raise follow.Refused(exc.detail) from None
            raise

    # --- HTTP -------------------------------------------------------------------

    def _jobs(self, project: str, job_id: str = "", suffix: str = "") -> str:
        path = f"/api/projects/{quote(self.project_id(project))}/ingest/jobs/"
        return f"{path}{quote(str(job_id))}/{suffix}" if job_id else path

    def _all_pages(self, path: str, query: dict | None = None, *, limit: int = 0) -> list[dict]:
        rows, page = [], 1
        while True:
            body = self._call("GET", path, query={**(query or {}), "page": page})
            rows += body["results"]
            if not body.get("next") or (limit and len(rows) >= limit):
                return rows[:limit] if limit else rows
            page += 1

    def _call(self, method, path, *, query=None, data=None, body=None, headers=None):
        url = self.url + path + (f"?{urlencode(query)}" if query else "")
        headers = {
            "Authorization": f"Token {self.token}",
            "Accept": "application/json",
            **(headers or {}),
        }
        if data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        request = Request(url, data=body, headers=headers, method=method)
        try:
            with urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except HTTPError as exc:
            raise error_from(exc) from None
        except (URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ApiError(f"cannot reach {self.url}: {reason}.") from None
        return json.loads(raw) if raw else None


def error_from(exc: HTTPError) -> ApiError:
    """The server's ``detail`` sentence, or a sentence from the status line."""
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    code = body.get("code", "") if isinstance(body, dict) else ""
    if not detail:
        detail = f"the server answered {exc.code} {exc.reason}."
    return ApiError(str(detail), status=exc.code, code=str(code))


class Patient:
    """A fetch that rides out a server that is briefly unreachable or failing."""

    def __init__(self, fetch: Callable[[], dict], *, patience: float, err):
        self.fetch = fetch
        self.patience = patience
        self.err = err

    def __call__(self) -> dict:
        first_failure = None
        while True:
            try:
                return self.fetch()
            except ApiError as exc:
                if exc.status and exc.status < 500:
                    raise
                now = time.monotonic()
                first_failure = first_failure or now
                if now - first_failure > self.patience:
                    raise
                if first_failure == now:
                    present.write_lines(self.err, [f"{exc.detail} Retrying."])
                time.sleep(1.0)


def refusal(local: follow.LocalFile) -> str | None:
    """Why the server would refuse this file's type, by its own rule, or None."""
    if local.size == 0:
        return f"{local.name} is empty."
    with local.path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    try:
        readers.detect_kind(local.name, head)
    except readers.UnsupportedType as exc:
        return str(exc)
    return None


class Multipart:
    """A multipart/form-data body streamed from disk, its length known
    beforehand, so a large upload never sits whole in memory."""

    def __init__(self, fields: dict, files: list[follow.LocalFile]):
        self.boundary = uuid.uuid4().hex
        self.fields = fields
        self.files = files
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        heads = sum(len(self._field(k, v)) for k, v in fields.items())
        heads += sum(len(self._file_head(f)) + 2 for f in files)
        self.length = heads + sum(f.size for f in files) + len(self._end())

    def stream(self, on_upload: Callable[[int], None] | None = None) -> Iterator[bytes]:
        for key, value in self.fields.items():
            yield self._field(key, value)
        for local in self.files:
            yield self._file_head(local)
            with local.path.open("rb") as handle:
                sent = 0
                while block := handle.read(min(BLOCK, local.size - sent)):
                    sent += len(block)
                    if on_upload:
                        on_upload(len(block))
                    yield block
            if sent != local.size:
                raise ApiError(f"{local.name} changed while it was being sent; send it again.")
            yield b"\r\n"
        yield self._end()

    def _field(self, key: str, value) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
        ).encode()

    def _file_head(self, local: follow.LocalFile) -> bytes:
        name = local.name.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ")
        name = name.replace("\n", " ")
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()

    def _end(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()
