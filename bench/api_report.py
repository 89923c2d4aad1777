"""The verdicts and the printed table of ``bench.api_latency``."""

import json

from bench.cpu_share import PARTS

TARGET_P99_MS = 100.0
TARGET_SCALE_RATIO = 1.2
# The goals, as ratios to /healthz measured in the same run.
ONE_CLIENT_P50_WITHIN = 2.0  # x healthz's p50
MANY_CLIENTS_THROUGHPUT_AT_LEAST = 0.5  # x healthz's throughput
READS = ("projects", "job list (40 jobs)", "job detail")
WRITES = ("cancel", "delete")


def verdicts(one: dict, many: dict, search: dict, scale: dict | None) -> dict:
    health_p50 = one["healthz"]["p50_ms"]
    health_rps = many["healthz"]["throughput_rps"]
    found = {
        **{
            f"{name}: 1 client p50 within 2x healthz": one[name]["p50_ms"]
            <= ONE_CLIENT_P50_WITHIN * health_p50
            for name in READS
        },
        **{
            f"{name}: 16 clients at least half healthz's throughput": many[name]["throughput_rps"]
            >= MANY_CLIENTS_THROUGHPUT_AT_LEAST * health_rps
            for name in (*READS, *WRITES)
        },
        "delete: 16 clients p99 under 100 ms": many["delete"]["p99_ms"] < TARGET_P99_MS,
        **{
            f"search {name}: p99 within 1.2x from 10k to 1M chunks": ratio <= TARGET_SCALE_RATIO
            for name, ratio in search.get("ratio_p99", {}).items()
            if name != "healthz"
        },
    }
    if scale:
        found["job list: p99 1M deleted within 1.2x of 10k (interleaved)"] = (
            scale["ratio_p99_interleaved"] <= TARGET_SCALE_RATIO
        )
    return found


def rounds(row: dict) -> str:
    return ", ".join(f"{p99:.1f}" for p99 in row.get("p99_ms_rounds", []))


def print_cpu(cpu: dict, clients: int) -> None:
    """CPU ms per request, part by part, in the concurrent phases: what bounds a
    throughput on this machine (its cores over the total)."""
    health = cpu["healthz"]["total"]
    print(f"CPU ms per request, {clients} clients (every part on this machine's cores):")
    print(
        f"{'endpoint':26} " + " ".join(f"{part:>9}" for part in (*PARTS, "total")) + "  x healthz"
    )
    for name, row in cpu.items():
        cells = " ".join(f"{row[part]:9.3f}" for part in (*PARTS, "total"))
        print(f"{name:26} {cells} {row['total'] / health:10.2f}")


def report(figures: dict, path) -> None:
    config = figures["config"]
    print(
        f"{config['jobs_in_main_project']} jobs ({config['deleted_share']:.0%} deleted) in the "
        f"main project; {config['server']}"
    )
    one, many = figures["one_client"], figures["clients"]
    health_p50, health_rps = one["healthz"]["p50_ms"], many["healthz"]["throughput_rps"]
    print(
        f"{'endpoint':26} {'1 client p50':>12} {'x healthz':>9} "
        f"{config['clients']:>3} clients req/s {'x healthz':>9} {'p99 ms':>8}"
    )
    for name, row in many.items():
        single = one.get(name.replace(" (again)", ""))
        flag = f"  unexpected {row['unexpected_statuses']}" if row["unexpected_statuses"] else ""
        print(
            f"{name:26} {single['p50_ms']:9.1f} ms {single['p50_ms'] / health_p50:9.2f} "
            f"{row['throughput_rps']:17.1f} {row['throughput_rps'] / health_rps:9.2f} "
            f"{row['p99_ms']:8.1f}{flag}"
        )
    if cpu := figures.get("cpu_ms_per_request"):
        print_cpu(cpu, config["clients"])
    if base := figures.get("baseline"):
        print(f"baseline {base['checkout']}, measured beside this commit, endpoint by endpoint:")
        print(
            f"{'endpoint':26} {'1 client p50':>12} {'this/base':>9} "
            f"{config['clients']:>3} clients req/s {'this/base':>9} {'p99 ms':>8} {'this/base':>9}"
        )
        for name, row in base["clients"].items():
            single = base["one_client"][name]
            print(
                f"{name:26} {single['p50_ms']:9.1f} ms {one[name]['p50_ms'] / single['p50_ms']:9.2f} "
                f"{row['throughput_rps']:17.1f} {many[name]['throughput_rps'] / row['throughput_rps']:9.2f} "
                f"{row['p99_ms']:8.1f} {many[name]['p99_ms'] / row['p99_ms']:9.2f}"
            )
    search = figures["search"]
    print(
        f"search, {config['clients']} clients, with {search['chunks_before']:,} chunks: "
        "p99 ms, the middle round's (every round's)"
    )
    for name, row in search["before"].items():
        print(
            f"  {name:30} {row['p99_ms']:8.1f}  hits {search['hits_before'].get(name, '')}"
            f"  ({rounds(row)})"
        )
    if "ratio_p99" in search:
        print(f"  grown to {search['chunks_after']:,} chunks in {search['grow_seconds']} s:")
        for name, ratio in search["ratio_p99"].items():
            before, after = search["before"][name], search["after"][name]
            print(
                f"  {name:30} {before['p99_ms']:8.1f} -> {after['p99_ms']:8.1f}  x{ratio}  "
                f"hits {search['hits_after'].get(name, '')}  ({rounds(after)})"
            )
    if queries := search.get("queries_ms"):
        print("  in process (count and first page, the database's share): p50 / p99 ms")
        for name, before in queries["before"].items():
            after = queries["after"][name]
            print(
                f"  {name:30} {before['p50_ms']:6.2f} / {before['p99_ms']:6.2f} -> "
                f"{after['p50_ms']:6.2f} / {after['p99_ms']:6.2f}"
            )
    if scale := figures["scale"]:
        print(
            "job list, 1k live: p99 "
            f"{scale['list_with_10k_deleted']['p99_ms']} ms with 10k deleted, "
            f"{scale['list_with_1m_deleted']['p99_ms']} ms with 1M "
            f"(x{scale['ratio_p99_sequential']}; interleaved x{scale['ratio_p99_interleaved']})"
        )
    print("targets: " + json.dumps(figures["targets"], indent=1))
    print(f"whole run {figures['wall_seconds']} s; {figures['load']}")
    print(f"results: {path}")
