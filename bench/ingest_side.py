"""One side of ``bench.pipeline_throughput --novel``: a job of the given files
ingested by the checkout at ``--root``, timed until its last words are
searchable.

Run by path, by the benchmark, with the checkout first on ``sys.path``, so
that the code measured is that checkout's own (this commit's, or a baseline
commit's). It imports nothing from ``bench``: only Django and the parts of
``ingest`` every commit has (``services.job_create``, ``selectors.document_list``),
so one driver measures both sides the same way.

Prints one JSON object: the seconds from the create call until the job was
seen completed and until a search for ``--last-words`` found the last file's
document, the job's own ``started_at``..``finished_at``, and the chunk count.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.025


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True, help="the checkout whose code is measured")
    parser.add_argument("--label", required=True, help="names the project (one per run)")
    parser.add_argument("--last-words", required=True, help="a search that finds the last file")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.root).resolve()))
    os.chdir(args.root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    import django

    django.setup()
    print(json.dumps(measure(args)))
    return 0


def measure(args) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.files import File

    from ingest import selectors
    from ingest.models import Chunk, IngestJob
    from ingest.services import job_create, project_create

    user, _ = get_user_model().objects.get_or_create(username="bench")
    project = project_create(user=user, name=f"novel {args.label}")
    paths = [Path(name) for name in args.files]
    handles = [path.open("rb") for path in paths]
    try:
        uploads = [
            File(handle, name=path.name) for handle, path in zip(handles, paths, strict=True)
        ]
        created = time.perf_counter()
        job, _ = job_create(project=project, user=user, uploads=uploads)
        stored = time.perf_counter()
    finally:
        for handle in handles:
            handle.close()
    completed = searchable = None
    deadline = created + args.timeout
    while (completed is None or searchable is None) and time.perf_counter() < deadline:
        now = time.perf_counter()
        if completed is None:
            status = IngestJob.all_objects.filter(pk=job.pk).values_list("status", flat=True)[0]
            if status in ("failed", "cancelled"):
                raise SystemExit(f"job {job.pk} ended {status}")
            completed = now if status == "completed" else None
        if searchable is None and list(
            selectors.document_list(project=project, q=args.last_words)[0:1]
        ):
            searchable = now
        time.sleep(POLL_SECONDS)
    if completed is None or searchable is None:
        raise SystemExit(f"job {job.pk} not completed and searchable in {args.timeout} s")
    job = IngestJob.all_objects.get(pk=job.pk)
    return {
        "driver_backends": _backend_pids(),
        "job": str(job.pk),
        "bytes": sum(path.stat().st_size for path in paths),
        "store_seconds": stored - created,
        "completed_seconds": completed - created,
        "searchable_seconds": searchable - created,
        "job_seconds": (job.finished_at - job.started_at).total_seconds(),
        "chunks": Chunk.objects.filter(document__project=project).count(),
    }


def _backend_pids() -> list[int]:
    """This process's database backends: its polls are not the ingest's work."""
    from django.db import connections

    pids = []
    for connection in connections.all():
        if connection.connection is not None and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.append(cursor.fetchone()[0])
    return pids


if __name__ == "__main__":
    sys.exit(main())
