"""The API's hot reads through the ORM and as prepared queries, in one process.

Each read is made both ways on the same rows, alternately, in ``--rounds``
rounds after a warm-up: the ORM queryset as the selectors wrote it before
(``.first()``, ``prefetch_related``), and the prepared query that replaced it
(``ingest.prepared``), which sends SQL compiled once. Reported per read: p50
wall and CPU time of each, their ratio, and how many queries each made.
The reads: a token with its user's membership of a project (every
project-scoped call), a token alone (the others), and a job's detail (the job
with its files, their documents, its retries and its document count).

Then the API's job list (40 jobs) and a job's detail, whole requests through
Django's test client, with the prepared queries' rows read in PostgreSQL's
binary format (as served) and in text, alternately: what that part of
``ingest.prepared`` buys at the endpoint, free of HTTP.

    .venv/bin/python -m bench.prepared_queries [--rounds 2000 --requests 300]
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


def binary_endpoints(rounds: int) -> dict:
    """p50 ms of the list and the detail with binary rows, and with text rows."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from bench.web_tier import build_small_project
    from ingest import prepared, selectors

    user = common.bench_user("binary")
    project, ids = build_small_project(user=user, count=40, name="binary rows")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    jobs = f"/api/projects/{project.pk}/ingest/jobs/"
    paths = {"job list (40)": jobs, "job detail": f"{jobs}{ids[0]}/"}
    served = prepared._binary_results
    sides = {"binary": served, "text": lambda connection, columns: False}
    queries = [selectors._JOB_WITH_COUNT, selectors._JOB_FILES, selectors._JOB_RETRIES]
    queries += [selectors._jobs(False, False, False)]
    samples = {side: {name: [] for name in paths} for side in sides}
    try:
        for round_ in range(rounds + 20):
            for side, choose in sides.items():
                prepared._binary_results = choose
                for query in queries:  # compiled again, with this side's format
                    query._compiled.clear()
                    for totals in query._totals.values():
                        totals._compiled.clear()
                for name, path in paths.items():
                    client.get(path)  # compiles
                    started = time.perf_counter()
                    assert client.get(path).status_code == 200
                    if round_ >= 20:  # warm-up rounds left out
                        samples[side][name].append((time.perf_counter() - started) * 1000)
    finally:
        prepared._binary_results = served
    return {
        name: {side: round(statistics.median(samples[side][name]), 3) for side in sides}
        for name in paths
    }


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
    parser.add_argument("--requests", type=int, default=300, help="per endpoint and format")
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
        endpoints = binary_endpoints(args.requests)
    finally:
        bench.close()
    results = {"rounds": args.rounds, "reads": figures, "binary_rows": endpoints}
    path = common.write_results("prepared_queries", results)
    print(f"{'read':22} {'orm p50':>9} {'prepared':>9} {'ratio':>6} {'queries':>8}")
    for name, row in figures.items():
        orm, prepared = row["orm"], row["prepared"]
        print(
            f"{name:22} {orm['p50_ms']:7.3f}ms {prepared['p50_ms']:7.3f}ms "
            f"{row['prepared/orm']:6.2f} {orm['queries']:>3} -> {prepared['queries']}"
        )
    print(f"\n{'endpoint, in process':22} {'binary':>9} {'text':>9} {'text/binary':>12}")
    for name, row in endpoints.items():
        ratio = row["text"] / row["binary"]
        print(f"{name:22} {row['binary']:7.3f}ms {row['text']:7.3f}ms {ratio:12.2f}")
    print(f"({common.load_note()}; {path})")


if __name__ == "__main__":
    main()
