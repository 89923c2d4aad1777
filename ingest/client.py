"""A small client for the ingest HTTP API, as a library and as a command.

    client = IngestClient("https://ingest.example.com", token)
    job = client.create("Reports", ["q3/", "notes.txt"])
    outcome = client.wait("Reports", job["id"])   # progress bar, Ctrl-C prompt

    python -m ingest.client --url URL --token TOKEN create Reports q3/ notes.txt

It needs only the standard library (urllib) and tqdm, never Django or the
server's settings, so it runs on any machine that can reach the server. The
progress bar, the Ctrl-C prompt and the exit statuses are those of
``manage.py ingest`` (both use ``ingest.follow``). Files the type rules refuse
are skipped before sending, with the server's own rule (``detect_kind``);
the size limits are the server's to enforce, and its refusal is shown as its
``detail`` sentence.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

from tqdm import tqdm

from ingest import follow
from ingest.pipeline import extract

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
                    follow.write_lines(self.err, [f"{exc.detail} Retrying."])
                time.sleep(1.0)


def refusal(local: follow.LocalFile) -> str | None:
    """Why the server would refuse this file's type, by its own rule, or None."""
    if local.size == 0:
        return f"{local.name} is empty."
    with local.path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    try:
        extract.detect_kind(local.name, head)
    except extract.UnsupportedType as exc:
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


# --- the command ------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.url or not args.token:
        print(
            "give the server with --url and a token with --token (or INGEST_URL and INGEST_TOKEN).",
            file=sys.stderr,
        )
        return follow.BAD_INPUT
    client = IngestClient(args.url, args.token, timeout=args.timeout)
    try:
        return VERBS[args.verb](client, args)
    except ApiError as exc:
        print(exc.detail, file=sys.stderr)
        return exc.exit_status
    except follow.BadInput as exc:
        print(exc, file=sys.stderr)
        return follow.BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        return follow.INTERRUPTED


def run_create(client: IngestClient, args) -> int:
    files, skipped = follow.collect(args.paths, refusal)
    follow.write_lines(sys.stderr, skipped)
    total = sum(f.size for f in files)
    try:
        with Upload(total) as upload:
            job = client.create_from(
                args.project,
                files,
                name=args.name,
                chunk_size=args.chunk_size,
                chunk_overlap=args.chunk_overlap,
                idempotency_key=args.idempotency_key,
                on_upload=upload.sent,
            )
    except KeyboardInterrupt:
        print(
            "interrupted before the server answered; run `list` to see whether the job "
            "was created.",
            file=sys.stderr,
        )
        return follow.INTERRUPTED
    print(
        f"job {job['id']} {job['name']!r} created: {len(files)} files, {follow.size_text(total)}."
    )
    if args.no_wait:
        return follow.COMPLETED
    return run_wait(client, argparse.Namespace(**vars(args), job=job["id"]))


def run_wait(client: IngestClient, args) -> int:
    hint = f"follow it again with: python -m ingest.client --url {args.url} wait {args.project} {args.job}"
    outcome = client.wait(args.project, args.job, interval=args.interval, hint=hint)
    return outcome.exit_status


def run_get(client: IngestClient, args) -> int:
    job = client.get(args.project, args.job)
    follow.write_lines(sys.stdout, follow.detail(job, client.events(args.project, args.job)))
    return follow.COMPLETED


def run_list(client: IngestClient, args) -> int:
    jobs = client.list(args.project, status=args.status, limit=args.limit)
    follow.write_lines(sys.stdout, follow.table(jobs) if jobs else ["no jobs."])
    return follow.COMPLETED


def run_cancel(client: IngestClient, args) -> int:
    job = client.cancel(args.project, args.job, reason=args.reason)
    if job["status"] == "cancelling":
        print(
            f"job {job['name']!r} is cancelling: it stops at its next checkpoint and keeps "
            "the files it finished."
        )
    else:
        print(f"job {job['name']!r} is {job['status']}.")
    return follow.COMPLETED


def run_cleanup(client: IngestClient, args) -> int:
    print(client.cleanup(args.project, args.job, documents=args.documents)["detail"])
    return follow.COMPLETED


def run_delete(client: IngestClient, args) -> int:
    job = client.delete(args.project, args.job, force=args.force)
    if job is None:
        print(f"job {args.job} deleted.")
    else:
        print(f"job {job['name']!r} is {job['status']}; it is deleted once it stops.")
    return follow.COMPLETED


VERBS = {
    "create": run_create,
    "wait": run_wait,
    "get": run_get,
    "list": run_list,
    "cancel": run_cancel,
    "cleanup": run_cleanup,
    "delete": run_delete,
}


class Upload:
    """An upload bar on a terminal; a single line otherwise."""

    def __init__(self, total: int):
        self.total = total
        self.bar = None

    def __enter__(self):
        if sys.stderr.isatty():
            self.bar = tqdm(
                total=self.total,
                desc="uploading",
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                leave=False,
                file=sys.stderr,
            )
        else:
            print(f"uploading {follow.size_text(self.total)}...", file=sys.stderr)
        return self

    def sent(self, size: int) -> None:
        if self.bar is not None:
            self.bar.update(size)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.client",
        description="Ingest files into a project and follow, cancel, clean up or delete jobs "
        "over the HTTP API. Exit status: 0 completed (or left running), 1 failed, "
        "2 bad input, 3 cancelled.",
    )
    parser.add_argument(
        "--url", default=os.environ.get("INGEST_URL"), help="the server's URL (INGEST_URL)"
    )
    parser.add_argument(
        "--token", default=os.environ.get("INGEST_TOKEN"), help="an API token (INGEST_TOKEN)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    verbs = parser.add_subparsers(dest="verb", required=True)

    create = verbs.add_parser("create", help="ingest files and folders, then follow the job")
    create.add_argument("project", help="the project's id or name")
    create.add_argument("paths", nargs="+", help="files and folders (walked recursively)")
    create.add_argument("--name", default="", help="the job's name")
    create.add_argument("--chunk-size", type=int)
    create.add_argument("--chunk-overlap", type=int)
    create.add_argument("--idempotency-key", default="", help="a repeat returns the first job")
    create.add_argument("--no-wait", action="store_true", help="return once the job exists")
    create.add_argument("--interval", type=float, default=0.5, help="seconds between reads")

    wait = _job_verb(verbs, "wait", "follow a job until it ends")
    wait.add_argument("--interval", type=float, default=0.5, help="seconds between reads")
    _job_verb(verbs, "get", "show a job with its files and audit trail")
    cancel = _job_verb(verbs, "cancel", "cancel a job; it keeps the files it finished")
    cancel.add_argument("--reason", default="", help="why, for the audit trail")
    cleanup = _job_verb(verbs, "cleanup", "remove what a finished job left behind")
    cleanup.add_argument("--documents", action="store_true", help="its documents too")
    delete = _job_verb(verbs, "delete", "soft-delete a finished job")
    delete.add_argument("--force", action="store_true", help="cancel an active job first")

    listing = verbs.add_parser("list", help="a project's jobs, newest first")
    listing.add_argument("project", help="the project's id or name")
    listing.add_argument("--status", help="only jobs in this status")
    listing.add_argument("--limit", type=int, default=100)
    return parser


def _job_verb(verbs, name: str, help_text: str) -> argparse.ArgumentParser:
    verb = verbs.add_parser(name, help=help_text)
    verb.add_argument("project", help="the project's id or name")
    verb.add_argument("job", help="the job's id")
    return verb


if __name__ == "__main__":
    sys.exit(main())
