"""``python -m ingest.client``: the client's verbs at a terminal."""

from __future__ import annotations

import argparse
import os
import sys

from tqdm import tqdm

from ingest.client import follow, present
from ingest.client.api import ApiError, IngestClient, refusal


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
    present.write_lines(sys.stderr, skipped)
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
        f"job {job['id']} {job['name']!r} created: {len(files)} files, {present.size_text(total)}."
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
    events = client.events(args.project, args.job)
    colour = present.colours(sys.stdout)
    present.write_lines(sys.stdout, present.detail(job, events, colour=colour))
    return follow.COMPLETED


def run_list(client: IngestClient, args) -> int:
    jobs = client.list(args.project, status=args.status, limit=args.limit)
    lines = present.table(jobs, colour=present.colours(sys.stdout)) if jobs else ["no jobs."]
    present.write_lines(sys.stdout, lines)
    return follow.COMPLETED


def run_cancel(client: IngestClient, args) -> int:
    job = client.cancel(args.project, args.job, reason=args.reason)
    # The server says what the status means (the remote client knows no Django).
    note = f": {job['status_note']}" if job.get("status_note") else "."
    print(f"job {job['name']!r} is {job['status']}{note}")
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


def run_retry(client: IngestClient, args) -> int:
    job = client.retry(args.project, args.job)
    files = job["progress"]["files_total"]
    print(f"job {job['id']} {job['name']!r} created to retry {files} file(s) of job {args.job}.")
    if args.no_wait:
        return follow.COMPLETED
    return run_wait(client, argparse.Namespace(**vars(args) | {"job": job["id"]}))


VERBS = {
    "create": run_create,
    "wait": run_wait,
    "get": run_get,
    "list": run_list,
    "cancel": run_cancel,
    "cleanup": run_cleanup,
    "delete": run_delete,
    "retry": run_retry,
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
            print(f"uploading {present.size_text(self.total)}...", file=sys.stderr)
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
        description="Ingest files into a project and follow, cancel, retry, clean up or delete jobs "
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
    retry = _job_verb(verbs, "retry", "a new job for what a finished job did not finish")
    retry.add_argument("--no-wait", action="store_true", help="return once the job exists")
    retry.add_argument("--interval", type=float, default=0.5, help="seconds between reads")
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
