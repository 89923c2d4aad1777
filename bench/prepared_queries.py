"""The API's hot reads through the ORM and as prepared queries, in one process.

Each read is made both ways on the same rows, alternately, in ``--rounds``
rounds after a warm-up: the ORM queryset as the selectors wrote it before
(``.first()``, ``prefetch_related``), and the prepared query that replaced it
(``ingest.prepared``), which sends SQL compiled once. Reported per read: p50
wall and CPU time of each, their ratio, and how many queries each made.
The reads: a token with its user's membership of a project (every
project-scoped call), a token alone (the others), and a job's detail (the job
with its files, their documents, its retries and its document count).

    .venv/bin/python -m bench.prepared_queries [--rounds 2000]
"""

import argparse
import statistics
import time

from bench import common


def orm_reads(project, job, key):
    """The reads as the ORM made them before they were prepared."""
    from django.db.models import Prefetch
    from rest_framework.authtoken.models import Token

    from ingest.models import Document, IngestJob, Membership

    def membership():
        return (
            Membership.objects.select_related("project", "user__auth_token")
            .filter(user__auth_token__key=key, project_id=project.pk)
            .first()
        )

    def token():
        return Token.objects.select_related("user").get(key=key)

    def detail():
        files = IngestJob.files_with_documents()
        found = (
            IngestJob.objects.filter(project=project)
            .prefetch_related(Prefetch("files", queryset=files.queryset))
            .filter(pk=job.pk)
            .first()
        )
        retries = list(found.retries.order_by("created_at").values_list("pk", flat=True))
        return found, list(found.files.all()), retries, Document.objects.filter(job=found).count()

    return {"token and membership": membership, "token": token, "job detail": detail}


def prepared_reads(project, job, key):
    from ingest import selectors
    from ingest.api.authentication import _TOKEN

    def detail():
        found = selectors.job_get(project=project, job_id=job.pk)
        return found, list(found.files.all()), found.retry_ids(), found.documents_created

    return {
        "token and membership": lambda: selectors.membership_for_token(
            key=key, project_id=project.pk
        ),
        "token": lambda: _TOKEN.first(key=key),
        "job detail": detail,
    }


def build():
    from rest_framework.authtoken.models import Token

    from bench.web_tier import build_small_project

    user = common.bench_user()
    key = Token.objects.get_or_create(user=user)[0].key
    project, ids = build_small_project(user=user, count=5)
    from ingest.models import IngestJob

    return project, IngestJob.objects.get(pk=ids[0]), key


def timed(read) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    read()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def queries(read) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        read()
    return len(captured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    bench = common.setup("prepared_queries")
    try:
        project, job, key = build()
        sides = {"orm": orm_reads(project, job, key), "prepared": prepared_reads(project, job, key)}
        figures = {}
        for name in sides["orm"]:
            samples = {side: [] for side in sides}
            for _ in range(200):  # warm-up: compiled queries, connection, caches
                for side in sides:
                    sides[side][name]()
            for _ in range(args.rounds):
                for side in sides:
                    samples[side].append(timed(sides[side][name]))
            figures[name] = {
                side: {
                    "p50_ms": round(statistics.median(s[0] for s in samples[side]), 3),
                    "cpu_p50_ms": round(statistics.median(s[1] for s in samples[side]), 3),
                    "queries": queries(sides[side][name]),
                }
                for side in sides
            }
            orm, prepared = figures[name]["orm"], figures[name]["prepared"]
            figures[name]["prepared/orm"] = round(prepared["p50_ms"] / orm["p50_ms"], 2)
    finally:
        bench.close()
    path = common.write_results("prepared_queries", {"rounds": args.rounds, "reads": figures})
    print(f"{'read':22} {'orm p50':>9} {'prepared':>9} {'ratio':>6} {'queries':>8}")
    for name, row in figures.items():
        orm, prepared = row["orm"], row["prepared"]
        print(
            f"{name:22} {orm['p50_ms']:7.3f}ms {prepared['p50_ms']:7.3f}ms "
            f"{row['prepared/orm']:6.2f} {orm['queries']:>3} -> {prepared['queries']}"
        )
    print(f"({common.load_note()}; {path})")


if __name__ == "__main__":
    main()
