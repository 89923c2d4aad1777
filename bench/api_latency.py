"""API latency on a large, mostly deleted jobs table, under concurrent clients.

PostgreSQL holds 100,000 jobs in one project, 90% of them soft-deleted and
spread over time among the live ones. ``uvicorn`` serves the project's real
ASGI application (plus one trivial DRF endpoint, the baseline: same
authentication, no query of its own) from ``--server-workers`` uvicorn
processes on 127.0.0.1 (see ``start_servers`` for why not ``--workers``); 16 client threads with keep-alive connections and token
authentication send requests, and each request's latency is taken from
sending it to reading the whole answer. Measured, one endpoint at a time:
the baseline (before and after the rest, to show drift), a job's detail, the
list's first page, cancel (half queued jobs, really in the RQ queue, half
running ones) and DELETE of finished jobs; each cancel and delete has a job
of its own.

Then the deleted-rows scaling: a second project with 1,000 live jobs has its
list timed with 10,000 deleted jobs, then again once 990,000 more deleted
jobs were added to it (1,000,000), next to a third project that kept 10,000,
timed in the same phase with requests interleaved, so that the machine's load
weighs on both alike. The added deleted jobs are newer than every live one,
the worst case for a list read newest first. Targets: every p99 under 100 ms; the list's p99 with
1,000,000 deleted rows within 1.2x of its p99 with 10,000.

Rows are made by PostgreSQL itself (``INSERT ... SELECT ... FROM
generate_series``), so a million take seconds. The database is
``bench_api_latency`` and Redis db 7 (``BENCH_DATABASE_URL`` /
``BENCH_REDIS_URL`` override them); its tables are emptied at the start.

    .venv/bin/python -m bench.api_latency [--jobs 100000 --clients 16 --requests 60]
"""

import argparse
import http.client
import json
import os
import random
import threading
import time

from bench import common

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_api_latency")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")

TARGET_P99_MS = 100.0
TARGET_SCALE_RATIO = 1.2
PING_PATH = "/bench/ping/"


# --- the server side: uvicorn --factory bench.api_latency:server_app -----------------


def server_app():
    """The project's ASGI application, with the baseline endpoint added to its URLs."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.asgi import get_asgi_application

    settings.ROOT_URLCONF = __name__
    if max_age := os.environ.get("BENCH_CONN_MAX_AGE"):
        # Persistent database connections, to weigh what a connect per request costs.
        for alias in settings.DATABASES.values():
            alias["CONN_MAX_AGE"] = int(max_age)
    return get_asgi_application()


def __getattr__(name):
    # This module is the server's URLconf; its patterns are built lazily so
    # that importing it does not need Django set up.
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def _urlpatterns():
    from django.urls import include, path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class Ping(APIView):
        """Trivial: DRF's authentication and permission checks, then a constant."""

        def get(self, request):
            return Response({"ok": True})

    return [path(PING_PATH.strip("/") + "/", Ping.as_view()), path("", include("config.urls"))]


# --- data ----------------------------------------------------------------------------

INSERT_JOBS = """
INSERT INTO ingest_ingestjob (
    id, project_id, name, status, version, created_by_id, created_at, started_at,
    finished_at, deleted_at, worker_host, items_total, items_done, bytes_total,
    bytes_done, error, result, chunk_size, chunk_overlap)
SELECT gen_random_uuid(), %(project)s, 'job ' || g, s.status, 1, %(user)s,
    now() - g * interval '1 second',
    CASE WHEN s.status = 'queued' THEN NULL ELSE now() - g * interval '1 second' END,
    CASE WHEN s.status IN ('completed', 'cancelled') THEN now() END,
    CASE WHEN s.deleted THEN now() - interval '1 day' END,
    '', 3, 0, 3000, 0, '', '{}', 1000, 100
FROM generate_series(%(start)s, %(stop)s) AS g,
LATERAL (SELECT g %% %(every)s <> 0 AS deleted) AS d,
LATERAL (SELECT CASE
    WHEN d.deleted THEN 'cancelled'
    WHEN (g / %(every)s) %% 10 < 2 THEN 'queued'
    WHEN (g / %(every)s) %% 10 < 4 THEN 'running'
    ELSE 'completed' END AS status, d.deleted) AS s
"""

INSERT_FILES = """
INSERT INTO ingest_ingestfile (
    job_id, position, name, size, content_type, kind, sha256, storage_path, status,
    error, chunks, members)
SELECT j.id, p, 'file' || p || '.txt', 1000, 'text/plain', 'txt', repeat('0', 64),
    'jobs/bench/' || j.id || '/' || p, 'done', '', 3, '[]'
FROM ingest_ingestjob AS j, generate_series(0, 2) AS p
WHERE j.id = ANY(%(ids)s)
"""


def insert_jobs(cursor, *, project, user, count: int, first: int = 1, every: int) -> None:
    """``count`` jobs, one in ``every`` alive (``every`` = 1: all deleted)."""
    cursor.execute(
        INSERT_JOBS,
        {
            "project": project.pk,
            "user": user.pk,
            "start": first,
            "stop": first + count - 1,
            "every": every,
        },
    )


def insert_deleted_only(cursor, *, project, user, count: int, first: int) -> None:
    # every > count: "g % every <> 0" holds for every g in range, so all deleted.
    insert_jobs(cursor, project=project, user=user, count=count, first=first, every=10**9)


def vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE ingest_ingestjob")
        cursor.execute("VACUUM ANALYZE ingest_ingestfile")


def build(*, jobs: int, deleted_share: float, grow: int) -> dict:
    """The main project (``jobs`` rows, ``deleted_share`` deleted) and two small ones."""
    from django.db import connection
    from rest_framework.authtoken.models import Token

    user = common.bench_user("latency")
    token, _ = Token.objects.get_or_create(user=user)
    main = common.new_project(user, "latency main")
    grown = common.new_project(user, "latency grown")
    steady = common.new_project(user, "latency steady")
    every = round(1 / (1 - deleted_share))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        insert_jobs(cursor, project=main, user=user, count=jobs, every=every)
        for project in (grown, steady):
            # 1,000 live among 10,000 deleted, older than the rows the growth adds.
            insert_jobs(cursor, project=project, user=user, count=11_000, first=grow + 1, every=11)
    vacuum_analyze()
    return {
        "user": user,
        "token": token.key,
        "main": main,
        "grown": grown,
        "steady": steady,
        "build_seconds": time.perf_counter() - started,
    }


def targets(project, *, status: str, count: int, with_files: bool = False) -> list[str]:
    from django.db import connection

    from ingest.models import IngestJob

    ids = list(
        IngestJob.objects.filter(project=project, status=status)
        .order_by("?")
        .values_list("pk", flat=True)[:count]
    )
    if len(ids) < count:
        raise SystemExit(f"only {len(ids)} {status} jobs for {count} requests: raise --jobs")
    if with_files:
        with connection.cursor() as cursor:
            cursor.execute(INSERT_FILES, {"ids": ids})
    return [str(pk) for pk in ids]


def enqueue(job_ids: list[str]) -> None:
    """Put queued jobs really in the RQ queue, as the API would have."""
    from ingest import services
    from ingest.models import IngestJob

    for job in IngestJob.objects.filter(pk__in=job_ids):
        services.job_enqueue(job=job)


# --- the client side -------------------------------------------------------------------


class Client(threading.Thread):
    """One keep-alive connection sending its share of the requests, timing each."""

    def __init__(self, *, port: int, token: str, requests: list, barrier: threading.Barrier):
        super().__init__(daemon=True)
        self.port = port
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        self.requests = requests
        self.barrier = barrier
        self.timings: list[tuple[str, float, int]] = []  # (label, ms, status)

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.barrier.wait()
        for label, method, path, body in self.requests:
            headers = dict(self.headers)
            if body is not None:
                headers["Content-Type"] = "application/json"
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            self.timings.append((label, elapsed, response.status))
        conn.close()


def run_phase(*, ports: list[int], token: str, requests: list, clients: int) -> dict[str, list]:
    """Send ``requests`` from ``clients`` concurrent connections, spread over the
    servers' ``ports``; timings per label."""
    shares = [requests[i::clients] for i in range(clients)]
    barrier = threading.Barrier(clients)
    threads = [
        Client(port=ports[i % len(ports)], token=token, requests=share, barrier=barrier)
        for i, share in enumerate(shares)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    by_label: dict[str, list] = {}
    for thread in threads:
        for label, ms, status in thread.timings:
            by_label.setdefault(label, []).append((ms, status))
    return by_label


def summary(samples: list, expected: set[int]) -> dict:
    latencies = [ms for ms, _ in samples]
    unexpected = sorted({status for _, status in samples} - expected)
    return {
        "requests": len(samples),
        "p50_ms": round(common.percentile(latencies, 0.50), 2),
        "p90_ms": round(common.percentile(latencies, 0.90), 2),
        "p99_ms": round(common.percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
        "unexpected_statuses": unexpected,
    }


def jobs_path(project, job_id: str = "", suffix: str = "") -> str:
    base = f"/api/projects/{project.pk}/ingest/jobs/"
    return f"{base}{job_id}/{suffix}" if job_id else base


def start_servers(bench, *, count: int) -> tuple[list[common.Process], list[int]]:
    """``count`` single-process uvicorn servers, each on its own port.

    Not ``uvicorn --workers``: its worker processes accept on a socket made
    with protocol 0, so asyncio never sets TCP_NODELAY on their connections,
    and every answer written in two parts (head, then body) waits ~40 ms for
    the client's delayed ACK. Clients are spread over the ports instead, as a
    load balancer would spread them.
    """
    started = [
        common.start_web(bench, app="bench.api_latency:server_app", factory=True)
        for _ in range(count)
    ]
    servers = [server for server, _ in started]
    return servers, [int(url.rsplit(":", 1)[1]) for _, url in started]


# --- the run -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--deleted-share", type=float, default=0.9)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=60, help="per client and endpoint")
    parser.add_argument("--server-workers", type=int, default=2, help="uvicorn processes")
    parser.add_argument("--scale-deleted", type=int, default=1_000_000)
    args = parser.parse_args()

    bench = common.setup("api_latency")
    try:
        figures = measure(bench, args)
    finally:
        bench.close()
    path = common.write_results("api_latency", figures)
    report(figures, path)


def measure(bench, args) -> dict:
    from django.db import connection

    wall = time.perf_counter()
    grow = args.scale_deleted - 10_000
    data = build(jobs=args.jobs, deleted_share=args.deleted_share, grow=grow)
    main_project = data["main"]
    per_phase = args.clients * args.requests
    warm = args.clients * 4
    detail_ids = targets(main_project, status="completed", count=200, with_files=True)
    delete_ids = targets(main_project, status="completed", count=per_phase + warm + 300)
    delete_ids = [i for i in delete_ids if i not in set(detail_ids)][: per_phase + warm]
    half = (per_phase + warm) // 2 + 1
    queued_ids = targets(main_project, status="queued", count=half)
    running_ids = targets(main_project, status="running", count=half)
    enqueue(queued_ids)
    cancel_ids = [i for pair in zip(queued_ids, running_ids, strict=True) for i in pair]
    servers, ports = start_servers(bench, count=args.server_workers)
    token = data["token"]
    rng = random.Random(7)

    def phase(label, make, count, expected):
        requests = [(label, *make(n)) for n in range(count)]
        samples = run_phase(ports=ports, token=token, requests=requests, clients=args.clients)
        return summary(samples[label], expected)

    def ping(n):
        return "GET", PING_PATH, None

    def detail(n):
        return "GET", jobs_path(main_project, rng.choice(detail_ids)), None

    def listing(n):
        return "GET", jobs_path(main_project), None

    def cancel(n):
        return "POST", jobs_path(main_project, cancel_ids.pop(0), "cancel/"), b"{}"

    def delete(n):
        return "DELETE", jobs_path(main_project, delete_ids.pop(0)), None

    # Warm every server worker up (imports, first connections, plan caches).
    for make in (ping, detail, listing, cancel, delete):
        phase("warm", make, warm, {200, 202, 204})

    endpoints = {
        "baseline_ping_before": phase("ping", ping, per_phase, {200}),
        "detail": phase("detail", detail, per_phase, {200}),
        "list_first_page": phase("list", listing, per_phase, {200}),
        "cancel": phase("cancel", cancel, per_phase, {200, 202}),
        "delete": phase("delete", delete, per_phase, {204}),
        "baseline_ping_after": phase("ping", ping, per_phase, {200}),
    }
    scale = measure_scale(data, args, ports=ports, token=token)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM ingest_ingestjob"
        )
        total_rows, deleted_rows = cursor.fetchone()
    for server in servers:
        server.stop()
        bench.processes.remove(server)
    return {
        "config": {
            "jobs_in_main_project": args.jobs,
            "deleted_share": args.deleted_share,
            "clients": args.clients,
            "requests_per_endpoint": per_phase,
            "server": f"{args.server_workers} uvicorn processes (ASGI, DEBUG off), one port each",
            "table_rows_at_end": total_rows,
            "deleted_rows_at_end": deleted_rows,
        },
        "build_seconds": round(data["build_seconds"], 1),
        "endpoints": endpoints,
        "scale": scale,
        "targets": verdicts(endpoints, scale),
        "wall_seconds": round(time.perf_counter() - wall, 1),
        "load": common.load_note(),
    }


def measure_scale(data, args, *, ports: list[int], token: str) -> dict:
    """The list of a project with 1,000 live jobs, before and after its deleted
    jobs grow from 10,000 to ``--scale-deleted``."""
    from django.db import connection

    from ingest import selectors

    grown, steady = data["grown"], data["steady"]
    count = args.clients * args.requests

    def timed(requests):
        return run_phase(ports=ports, token=token, requests=requests, clients=args.clients)

    before = timed([("grown", "GET", jobs_path(grown), None)] * count)
    queries_before = list_query_ms([grown])
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Newer than every live job: a plan that walked the project's rows in
        # date order without the partial index would meet all of them first.
        extra = args.scale_deleted - 10_000
        insert_deleted_only(cursor, project=grown, user=data["user"], count=extra, first=1)
    vacuum_analyze()
    grow_seconds = time.perf_counter() - started
    both = [("grown", "GET", jobs_path(grown), None), ("steady", "GET", jobs_path(steady), None)]
    after = timed(both * count)
    queries_after = list_query_ms([grown, steady])
    plan = selectors.job_list(project=grown)[:25].explain()
    small, large = summary(before["grown"], {200}), summary(after["grown"], {200})
    control = summary(after["steady"], {200})
    return {
        "live_jobs_per_project": 1_000,
        "list_with_10k_deleted": small,
        "list_with_1m_deleted": large,
        "list_with_10k_deleted_interleaved": control,
        "ratio_p99_sequential": round(large["p99_ms"] / small["p99_ms"], 3),
        "ratio_p99_interleaved": round(large["p99_ms"] / control["p99_ms"], 3),
        "list_queries_ms": {
            "10k_deleted_before_growth": queries_before[grown.pk],
            "1m_deleted": queries_after[grown.pk],
            "10k_deleted_interleaved": queries_after[steady.pk],
        },
        "grow_seconds": round(grow_seconds, 1),
        "plan_with_1m_deleted": plan,
        "uses_partial_index": "ingestjob_alive_list" in plan,
    }


def list_query_ms(projects, rounds: int = 200) -> dict:
    """The list page's two queries (count, first 25 rows) run in this process, one
    project after the other: the database's share, free of HTTP and queueing."""
    from ingest import selectors

    timings = {project.pk: [] for project in projects}
    for _ in range(rounds):
        for project in projects:
            started = time.perf_counter()
            jobs = selectors.job_list(project=project)
            jobs.count()
            list(jobs[:25])
            timings[project.pk].append((time.perf_counter() - started) * 1000)
    return {
        pk: {
            "p50_ms": round(common.percentile(values, 0.5), 2),
            "p99_ms": round(common.percentile(values, 0.99), 2),
        }
        for pk, values in timings.items()
    }


def verdicts(endpoints: dict, scale: dict) -> dict:
    measured = ("detail", "list_first_page", "cancel", "delete")
    return {
        **{
            f"{name}_p99_under_100ms": endpoints[name]["p99_ms"] < TARGET_P99_MS
            for name in measured
        },
        "list_scale_sequential_within_1_2x": scale["ratio_p99_sequential"] <= TARGET_SCALE_RATIO,
        "list_scale_interleaved_within_1_2x": scale["ratio_p99_interleaved"] <= TARGET_SCALE_RATIO,
        "list_queries_p50_1m_within_1_2x_of_10k": (
            scale["list_queries_ms"]["1m_deleted"]["p50_ms"]
            <= TARGET_SCALE_RATIO * scale["list_queries_ms"]["10k_deleted_interleaved"]["p50_ms"]
        ),
    }


def report(figures: dict, path) -> None:
    config = figures["config"]
    print(
        f"{config['jobs_in_main_project']} jobs ({config['deleted_share']:.0%} deleted), "
        f"{config['clients']} clients, {config['requests_per_endpoint']} requests each; "
        f"{config['server']}"
    )
    print(f"{'endpoint':32} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    rows = {**figures["endpoints"]}
    scale = figures["scale"]
    rows["list, 1k live + 10k deleted"] = scale["list_with_10k_deleted"]
    rows["list, 1k live + 1M deleted"] = scale["list_with_1m_deleted"]
    rows["list, 10k deleted (interleaved)"] = scale["list_with_10k_deleted_interleaved"]
    for name, row in rows.items():
        flag = f"  unexpected {row['unexpected_statuses']}" if row["unexpected_statuses"] else ""
        print(
            f"{name:32} {row['p50_ms']:8.1f} {row['p90_ms']:8.1f} {row['p99_ms']:8.1f} "
            f"{row['max_ms']:8.1f}{flag}"
        )
    print(
        f"list p99 ratio 1M/10k deleted: {scale['ratio_p99_sequential']} (before/after growth), "
        f"{scale['ratio_p99_interleaved']} (interleaved); partial index used: "
        f"{scale['uses_partial_index']}"
    )
    queries = scale["list_queries_ms"]
    print(
        "list queries in-process (count + page), p50/p99 ms: "
        + "; ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in queries.items())
    )
    print("targets: " + json.dumps(figures["targets"]))
    print(
        f"built in {figures['build_seconds']} s, grown in {scale['grow_seconds']} s, "
        f"whole run {figures['wall_seconds']} s; {figures['load']}"
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
