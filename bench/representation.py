"""A list page's rows rendered through the declared shape (``ingest.shapes``)
against the hand-written dict it replaced, in one process, alternately.

25 jobs built in memory (no database), each rendered as the API's list rows
are: ``representation.JOB_SUMMARY(job, url=...)`` against ``hand_written``, a
copy of the function that built the same dict field by field. Reported: the
p50 of a page each way and their ratio. Also the per-row cost of converting
times through DRF's ``timezone.localtime`` (what ``shapes.when`` avoids).

    .venv/bin/python -m bench.representation [--rounds 3000] [--smoke]
"""

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta


def hand_written(job, url):
    """The list row as representation.job built it before the shapes."""
    from ingest import actions, retention
    from ingest.representation import STATUS_NOTES, when

    return {
        "id": str(job.pk),
        "url": url,
        "project": str(job.project_id),
        "name": job.name,
        "status": job.status,
        "status_before_delete": job.status_before_delete or None,
        "actions": actions.job_actions(job),
        "status_note": STATUS_NOTES.get(job.status),
        "retry_of": str(job.retry_of_id) if job.retry_of_id else None,
        "version": job.version,
        "chunk_size": job.chunk_size,
        "chunk_overlap": job.chunk_overlap,
        "created_at": when(job.created_at),
        "started_at": when(job.started_at),
        "finished_at": when(job.finished_at),
        "cancel_requested_at": when(job.cancel_requested_at),
        "delete_requested_at": when(job.delete_requested_at),
        "deleted_at": when(job.deleted_at),
        "purge_at": when(retention.purge_at(job)),
        "error": job.error or None,
        "progress": {
            "files_total": job.items_total,
            "files_done": job.items_done,
            "files_failed": job.items_failed,
            "bytes_total": job.bytes_total,
            "bytes_done": job.bytes_done,
            "percent": job.percent,
        },
    }


def jobs(count: int):
    from ingest.models import IngestJob

    now = datetime.now(UTC)
    project = uuid.uuid4()
    rows = [
        IngestJob(
            id=uuid.uuid4(),
            project_id=project,
            name=f"job {n}",
            status="completed",
            chunk_size=1000,
            chunk_overlap=100,
            created_at=now - timedelta(minutes=n),
            started_at=now - timedelta(minutes=n),
            finished_at=now,
            items_total=3,
            items_done=3,
            bytes_total=3000,
            bytes_done=3000,
        )
        for n in range(count)
    ]
    for job in rows:
        job.retried = False  # as the list's query reads it (selectors.job_list)
    return rows


def page_us(render, rows, url) -> float:
    started = time.perf_counter()
    for job in rows:
        render(job, url)
    return (time.perf_counter() - started) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--smoke", action="store_true", help="a few rounds, to check it runs")
    args = parser.parse_args()
    rounds = 20 if args.smoke else args.rounds
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from ingest import representation

    rows = jobs(25)
    url = "http://testserver/api/projects/x/ingest/jobs/"
    sides = {
        "hand-written dict": hand_written,
        "declared shape": lambda job, url: representation.JOB_SUMMARY(job, url=url),
    }
    for job in rows:  # the same answer both ways
        assert hand_written(job, url) == representation.JOB_SUMMARY(job, url=url)
    timings = {name: [] for name in sides}
    for _ in range(rounds):
        for name, render in sides.items():
            timings[name].append(page_us(render, rows, url))
    p50 = {name: statistics.median(values) for name, values in timings.items()}
    for name, value in p50.items():
        print(f"{name:>20}: {value:7.1f} us per page of 25 rows (p50 of {rounds})")
    ratio = p50["declared shape"] / p50["hand-written dict"]
    print(f"{'shape / hand-written':>20}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
