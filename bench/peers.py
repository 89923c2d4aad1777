"""This project's web tier against two peers of the same endpoints, in one run.

The peers: a plain DRF app (``bench.peer_drf``: a ``ModelViewSet``,
``prefetch_related``, the pool, stock Django) and a FastAPI + SQLAlchemy 2
async app (``bench.peer_fastapi``). The same tables and rows
(``bench.peer_data``: 40 jobs of 3 files among 10,000 deleted ones), the same
token authentication and membership check, each served as the Procfile
serves ours (gunicorn, 2 uvicorn workers), each endpoint's 16-client phases
run on the three in rounds ours, DRF, FastAPI, FastAPI, DRF, ours, so that the
machine's drift weighs on each alike. Reported: requests/second per endpoint
and side, and ours over each peer.

Goals: ours at least 2x the plain DRF app's throughput, and at
least the FastAPI app's on the job detail and the job list.

    .venv/bin/python -m bench.peers [--requests 40] [--clients 16]
    .venv/bin/python -m bench.peers --smoke   # tiny sizes, seconds: does it run?
"""

import argparse
import json
import os
import random
import time
import urllib.request

from bench import common, peer_data, web_tier
from tests.processes import WebProcess

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_peers")

SIDES = ("ours", "plain DRF", "FastAPI")
ORDER = ["ours", "plain DRF", "FastAPI", "FastAPI", "plain DRF", "ours"]
DRF_AT_LEAST = 2.0  # ours over the plain DRF app, every endpoint
FASTAPI_AT_LEAST = 1.0  # ours over FastAPI, on these:
FASTAPI_ENDPOINTS = ("job detail", "job list")


class DrfWeb(WebProcess):
    app = "bench.peer_drf:application"


class FastApiWeb(WebProcess):
    app = "bench.peer_fastapi:app"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=40, help="per client, endpoint and side")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.requests = 2, 3
    bench = common.setup("peers")
    try:
        figures = measure(bench, args)
    finally:
        bench.close()
    path = common.write_results("peers", figures)
    report(figures, path)


def measure(bench, args) -> dict:
    started = time.perf_counter()
    count = args.clients * args.requests
    deletes = len(SIDES) * (count + args.clients * 2 + 1) + 50
    data = peer_data.build(
        clients=args.clients, deleted=100 if args.smoke else 10_000, delete_targets=deletes
    )
    servers = {
        "ours": common.serve_web(bench, web_tier.BaselineWeb, label="web-ours"),
        "plain DRF": common.serve_web(bench, DrfWeb, label="web-drf", PRIVATE_APIS="none"),
        "FastAPI": common.serve_web(bench, FastApiWeb, label="web-fastapi"),
    }
    sides = {name: [server.url] for name, server in servers.items()}
    check_answers(data, sides)
    makers = data.makers(random.Random(11))
    for label in peer_data.ENDPOINTS:  # warm each up: imports, connections, plans
        peer_data.rounds(
            data, makers, label, sides, clients=args.clients, count=args.clients * 2, order=SIDES
        )
    rows = {}
    for label in peer_data.ENDPOINTS:
        measured = peer_data.rounds(
            data, makers, label, sides, clients=args.clients, count=count, order=ORDER
        )
        ours = measured["ours"]["throughput_rps"]
        rows[label] = {
            **measured,
            "ours_over": {
                side: round(ours / measured[side]["throughput_rps"], 2) for side in SIDES[1:]
            },
        }
    for server in servers.values():
        bench.stop(server)
    return {
        "config": {
            "clients": args.clients,
            "requests_per_endpoint_and_side": count,
            "data": "40 jobs of 3 files among 10,000 deleted; 16 members with a token each",
            "server": "the Procfile's web command for each side (DEBUG off)",
        },
        "endpoints": rows,
        "goals": goals(rows),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load": common.load_note(),
    }


def check_answers(data, sides: dict) -> None:
    """Each side answers the same job and the same list before anything is timed."""
    job = data.job_ids[0]
    for side, (url,) in sides.items():
        detail = _get(url, f"{data.jobs_path()}{job}/", data.tokens[0])
        listed = _get(url, data.jobs_path(), data.tokens[0])
        assert (
            detail["id"] == job
            and len(detail["files"] if "files" in detail else detail["result"]["files"]) == 3
        ), (side, detail)
        assert listed["count"] == 40 and len(listed["results"]) == 25, (side, listed["count"])


def _get(url: str, path: str, token: str) -> dict:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def goals(rows: dict) -> dict:
    return {
        **{
            f"{label}: ours at least {DRF_AT_LEAST:g}x plain DRF": rows[label]["ours_over"][
                "plain DRF"
            ]
            >= DRF_AT_LEAST
            for label in peer_data.ENDPOINTS
        },
        **{
            f"{label}: ours at least FastAPI": rows[label]["ours_over"]["FastAPI"]
            >= FASTAPI_AT_LEAST
            for label in FASTAPI_ENDPOINTS
        },
    }


def report(figures: dict, path) -> None:
    clients = figures["config"]["clients"]
    print(f"\n{clients} clients, requests/second (p99 ms), one run, rounds interleaved")
    print(
        f"{'endpoint':<12}" + "".join(f"{side:>20}" for side in SIDES) + "  ours/DRF  ours/FastAPI"
    )
    for label, row in figures["endpoints"].items():
        cells = "".join(
            f"{row[side]['throughput_rps']:>11.0f} ({row[side]['p99_ms']:>5.0f})" for side in SIDES
        )
        over = row["ours_over"]
        print(f"{label:<12}{cells}  {over['plain DRF']:>7.2f}x  {over['FastAPI']:>11.2f}x")
        unexpected = {side: row[side]["unexpected_statuses"] for side in SIDES}
        if any(unexpected.values()):
            print(f"{'':<12}unexpected statuses: {unexpected}")
    for goal, met in figures["goals"].items():
        print(f"  {'met' if met else 'NOT met'}: {goal}")
    print(f"\n{figures['load']}; {figures['wall_seconds']} s; figures in {path}")


if __name__ == "__main__":
    main()
