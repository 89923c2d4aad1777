"""What concurrent ``create_job`` calls over ``/mcp/`` cost a web process in memory.

    .venv/bin/python -m bench.mcp_memory [--concurrency 1,2,4,8] [--limit-mb 16]

A call carries its files inline, in base64, and is read whole: its body,
the JSON parsed from it and the bytes decoded from that are all in memory at
once. Each row starts a fresh uvicorn process serving the site, sends that
many calls at once, each as large as ``INGEST_MCP_MAX_BODY_BYTES`` allows,
and reports the process's peak resident memory (VmHWM) against its own at
rest (the baseline, same process, same run). Each call of a row comes from
a user of its own, the worst case for the per-process budget
(``ingest.agents.bodies.BODIES_IN_FLIGHT``), which should keep the peak flat
past two calls (one user's calls are read one at a time anyway); the last
line sends one body over the limit and shows it refused.
"""

import argparse
import base64
import json
from concurrent.futures import ThreadPoolExecutor

import httpx2

from bench import common


def call_body(project: str, size: int) -> bytes:
    """A ``tools/call`` of ``create_job`` whose JSON is ``size`` bytes at most."""
    skeleton = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "create_job",
            "arguments": {"project": project, "files": [{"name": "big.txt", "content_base64": ""}]},
        },
    }
    room = size - len(json.dumps(skeleton)) - 64
    raw = (b"Ingest reads what it is given, once. " * (room // 37 + 1))[: room * 3 // 4]
    skeleton["params"]["arguments"]["files"][0]["content_base64"] = base64.b64encode(raw).decode()
    return json.dumps(skeleton).encode()


def one_row(bench, tokens: list[str], body: bytes, concurrency: int) -> dict:
    web = common.start_web(bench)
    watcher = common.MemoryWatcher(web.pid)
    watcher.start()
    at_rest = common.memory_kb(web.pid)["VmRSS"] / 1024
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    def post(n):
        mine = {**headers, "Authorization": f"Bearer {tokens[n]}"}
        return httpx2.post(f"{web.url}/mcp/", content=body, headers=mine, timeout=120)

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            statuses = [r.status_code for r in pool.map(post, range(concurrency))]
    finally:
        watcher.stop()
        bench.stop(web)
    return {
        "concurrency": concurrency,
        "statuses": statuses,
        "at_rest_mb": at_rest,
        "peak_mb": watcher.root_peak_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--limit-mb", type=float, default=16)
    args = parser.parse_args()
    limit = int(args.limit_mb * common.MB)

    bench = common.setup("mcp_memory")
    bench.env.update({"INGEST_MCP_MAX_BODY_BYTES": str(limit)})
    try:
        from rest_framework.authtoken.models import Token

        from ingest.models import Membership, Role

        counts = [int(n) for n in args.concurrency.split(",") if n.strip()]
        users = [common.bench_user(f"mcp-{n}") for n in range(max(counts))]
        project = common.new_project(users[0], "mcp memory")
        for user in users[1:]:
            Membership.objects.create(project=project, user=user, role=Role.MEMBER)
        tokens = [Token.objects.get_or_create(user=user)[0].key for user in users]
        body = call_body(str(project.pk), limit)
        rows = [one_row(bench, tokens, body, n) for n in counts]
        over = one_row(bench, tokens, body + b" " * 1024, 1)
        print(f"\nbody {len(body) / common.MB:.1f} MiB, limit {args.limit_mb:g} MiB")
        print(f"{'calls':>5} {'answers':>20} {'at rest MB':>11} {'peak MB':>8} {'peak - rest':>12}")
        for row in [*rows, {**over, "concurrency": "over"}]:
            grown = row["peak_mb"] - row["at_rest_mb"]
            answers = ",".join(str(s) for s in sorted(set(row["statuses"])))
            print(
                f"{row['concurrency']:>5} {answers:>20} {row['at_rest_mb']:11.0f} "
                f"{row['peak_mb']:8.0f} {grown:12.0f}"
            )
        per_body = [r["peak_mb"] - r["at_rest_mb"] for r in rows if r["concurrency"] == 1]
        if per_body and rows[-1]["concurrency"] > 2:
            grown = (rows[-1]["peak_mb"] - rows[-1]["at_rest_mb"]) / per_body[0]
            print(
                f"{rows[-1]['concurrency']} calls at once grew the process {grown:.1f}x as much as one"
            )
        print("results:", common.write_results("mcp_memory", {"rows": rows, "over": over}))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
