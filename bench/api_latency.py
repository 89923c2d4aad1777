"""API latency on a large, mostly deleted jobs table, under concurrent clients.

PostgreSQL holds 100,000 jobs in one project, 90% of them soft-deleted and
spread over time among the live ones. ``uvicorn`` serves the project's real
ASGI application (plus one trivial DRF endpoint, the baseline: same
authentication, no query of its own) from ``--server-workers`` uvicorn
processes on 127.0.0.1 (see ``bench.web_tier.start_servers`` for why not ``--workers``); 16 client threads with keep-alive connections and token
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

The web tier's figures come first: the server started as the Procfile
starts it (``--serve procfile``, the default), a 40-job project of 3 files
each, and for one client (p50, and its ratio to ``/healthz``) and for 16
(throughput, its ratio to ``/healthz``, p99): ``/healthz``, the trivial DRF
endpoint, the projects list, that project's jobs and a job, the big list,
search, cancel and DELETE. Then search flatness: three searches' p99 with
``--search-chunks`` chunks and again once the searched project grew to
``--search-scale`` (see ``bench.web_tier``).

With ``--baseline DIR`` (a checkout of another commit, e.g. made by ``git
worktree add DIR HEAD~3``), that commit's web tier is served too, from the
same database, and every endpoint's phases are run against both in four
rounds, A B B A, so that the machine's drift weighs on both: the table then shows
the baseline's p50 and throughput and this commit's ratio to them, measured
under the same load. Search and the deleted-rows scaling are this commit's.

    .venv/bin/python -m bench.api_latency [--jobs 100000 --clients 16 --requests 60]
        [--baseline DIR]
"""

import argparse
import functools
import os
import random
import time

from bench import common, web_tier
from bench.api_client import run_phase, summary
from bench.api_data import (
    build,
    enqueue,
    insert_deleted_only,
    jobs_path,
    targets,
    vacuum_analyze,
)
from bench.api_report import report, verdicts
from bench.cpu_share import CpuMeter, CpuTally
from config.launch import procfile

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_api_latency")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--deleted-share", type=float, default=0.9)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=60, help="per client and endpoint")
    parser.add_argument("--single-requests", type=int, default=200, help="one client's, each")
    parser.add_argument(
        "--serve",
        choices=["procfile", "ports"],
        default="procfile",
        help="the Procfile's web command, or --server-workers uvicorns on a port each",
    )
    parser.add_argument(
        "--server-workers", type=int, default=2, help="uvicorns, with --serve ports"
    )
    parser.add_argument("--scale-deleted", type=int, default=1_000_000)
    parser.add_argument("--no-list-scale", action="store_true", help="skip the 1M deleted jobs")
    parser.add_argument("--search-chunks", type=int, default=10_000)
    parser.add_argument("--search-scale", type=int, default=1_000_000, help="chunks after growth")
    parser.add_argument(
        # 640 samples a query: with 160 a p99 was the second slowest request.
        "--search-requests",
        type=int,
        default=40,
        help="per client, query and round",
    )
    parser.add_argument(
        "--baseline", metavar="DIR", help="a checkout of another commit, measured beside this one"
    )
    args = parser.parse_args()

    bench = common.setup("api_latency")
    try:
        figures = measure(bench, args)
    finally:
        bench.close()
    path = common.write_results("api_latency", figures)
    report(figures, path)


def write_targets(main_project, count: int) -> tuple[list[str], list[str]]:
    """Jobs of their own for each cancel (half queued, really in the RQ queue,
    half running) and each DELETE (finished)."""
    delete_ids = targets(main_project, status="completed", count=count)
    half = count // 2 + 1
    queued_ids = targets(main_project, status="queued", count=half)
    running_ids = targets(main_project, status="running", count=half)
    enqueue(queued_ids)
    cancel_ids = [i for pair in zip(queued_ids, running_ids, strict=True) for i in pair]
    return cancel_ids, delete_ids


def measure(bench, args) -> dict:
    from django.db import connection

    wall = time.perf_counter()
    grow = args.scale_deleted - 10_000
    data = build(jobs=args.jobs, deleted_share=args.deleted_share, grow=grow)
    main_project, token = data["main"], data["token"]
    small, small_ids = web_tier.build_small_project(user=data["user"])
    searched = web_tier.build_search_project(user=data["user"], chunks=args.search_chunks)
    per_phase, warm = args.clients * args.requests, args.clients * 4
    tiers = 2 if args.baseline else 1
    targets_needed = tiers * (per_phase + args.single_requests + warm)
    cancel_ids, delete_ids = write_targets(main_project, targets_needed)
    if args.serve == "procfile":
        servers = [common.start_web(bench, web_tier.BaselineWeb)]
    else:
        servers = web_tier.start_servers(bench, count=args.server_workers)
    urls = [server.url for server in servers]
    cpu = CpuTally(CpuMeter([server.pid for server in servers]))
    if args.baseline:
        baseline_server = web_tier.start_baseline_checkout(bench, args.baseline)
        servers.append(baseline_server)
    rng = random.Random(7)
    makers = {
        "healthz": lambda: ("GET", "/healthz", None),
        "ping (trivial DRF)": lambda: ("GET", web_tier.PING_PATH, None),
        "projects": lambda: ("GET", "/api/projects/", None),
        "job list (40 jobs)": lambda: ("GET", jobs_path(small), None),
        "job detail": lambda: ("GET", jobs_path(small, rng.choice(small_ids)), None),
        "job list (10k of 100k)": lambda: ("GET", jobs_path(main_project), None),
        "search": lambda: ("GET", web_tier.search_path(searched, "zephyrquill"), None),
        "cancel": lambda: ("POST", jobs_path(main_project, cancel_ids.pop(0), "cancel/"), {}),
        "delete": lambda: ("DELETE", jobs_path(main_project, delete_ids.pop(0)), None),
    }
    expected = {"cancel": {200, 202}, "delete": {204}}

    def samples(label, clients, count, to):
        requests = [(label, *makers[label]()) for _ in range(count)]

        def run():
            return run_phase(urls=to, token=token, requests=requests, clients=clients)

        if to is urls and clients > 1:  # this commit's concurrent phases: their CPU, part by part
            timings, seconds = cpu.measure(label, count, run)
        else:
            timings, seconds = run()
        return timings[label], seconds

    def phase(label, clients, count):
        return summarized(*samples(label, clients, count, urls), label)

    def summarized(timings, seconds, label):
        return summary(timings, expected.get(label, {200}), seconds)

    baseline = {"one_client": {}, "clients": {}}

    def both(label, clients, count, key):
        """This commit's phase and the baseline's, in rounds A B B A so that a
        drift of the machine's speed weighs on both alike."""
        if not args.baseline:
            return phase(label, clients, count)
        sides = {"this": urls, "baseline": [baseline_server.url]}
        gathered = {side: ([], 0.0) for side in sides}
        for side in ["this", "baseline", "baseline", "this"]:
            timings, seconds = samples(label, clients, count // 4, sides[side])
            gathered[side] = (gathered[side][0] + timings, gathered[side][1] + seconds)
        baseline[key][label] = summarized(*gathered["baseline"], label)
        return summarized(*gathered["this"], label)

    for label in makers:  # warm every server process up (imports, connections, plans)
        both(label, args.clients, warm, "clients")
    baseline["clients"].clear()
    cpu.totals.clear()
    one_client = {label: both(label, 1, args.single_requests, "one_client") for label in makers}
    many_clients = {label: both(label, args.clients, per_phase, "clients") for label in makers}
    many_clients["healthz (again)"] = phase("healthz", args.clients, per_phase)
    search = web_tier.measure_search(args, project=searched, urls=urls, token=token)
    scale = None if args.no_list_scale else measure_scale(data, args, urls=urls, token=token)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM ingest_ingestjob"
        )
        total_rows, deleted_rows = cursor.fetchone()
    for server in servers:
        bench.stop(server)
    server = (
        f"Procfile: {procfile()['web']}"
        if args.serve == "procfile"
        else f"{args.server_workers} uvicorn processes, one port each"
    )
    return {
        "config": {
            "jobs_in_main_project": args.jobs,
            "deleted_share": args.deleted_share,
            "clients": args.clients,
            "requests_per_endpoint": per_phase,
            "single_client_requests": args.single_requests,
            "server": server + " (DEBUG off)",
            "table_rows_at_end": total_rows,
            "deleted_rows_at_end": deleted_rows,
        },
        "build_seconds": round(data["build_seconds"], 1),
        "one_client": one_client,
        "clients": many_clients,
        "cpu_ms_per_request": cpu.per_request_ms(),
        "search": search,
        "scale": scale,
        "targets": verdicts(one_client, many_clients, search, scale),
        "baseline": {"checkout": args.baseline, **baseline} if args.baseline else None,
        "wall_seconds": round(time.perf_counter() - wall, 1),
        "load": common.load_note(),
    }


def measure_scale(data, args, *, urls: list[str], token: str) -> dict:
    """The list of a project with 1,000 live jobs, before and after its deleted
    jobs grow from 10,000 to ``--scale-deleted``."""
    from django.db import connection

    from ingest import selectors

    grown, steady = data["grown"], data["steady"]
    count = args.clients * args.requests

    def timed(requests):
        return run_phase(urls=urls, token=token, requests=requests, clients=args.clients)[0]

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
    plan = selectors.job_list(project=grown).queryset()[:25].explain()
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

    def page(project):
        jobs = selectors.job_list(project=project)
        jobs.count()
        list(jobs[:25])

    calls = {project.pk: functools.partial(page, project) for project in projects}
    return common.in_process_ms(calls, rounds)


if __name__ == "__main__":
    main()
