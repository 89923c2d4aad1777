"""Search latency in process, on SQLite and PostgreSQL, as the corpus grows.

For each database and each side (this checkout, and with ``--baseline DIR``
another commit's), one database per size of ``--scales`` is written: a
corpus of that many chunks (documents of ``--chunks-per-document``, the first
holding planted words in a fixed number of chunks). Then, in ``--cycles``
cycles, each size's database in turn has every query of ``bench.search_side``
timed ``--rounds`` times through the API's view and the dashboard's
(Django's test client, in process: the database's and the views' share,
free of HTTP). Interleaving the sizes puts a drift of this shared machine's
speed on all of them alike: measured one size after the other, on a loaded
machine, a search 2 ms at 10,000 chunks read 15 at a million, the same
queries on warm connections 0.03 and 0.04 ms. Each side runs in its own
processes, on databases its own migrations made.

It prints each query's p50 and p99 per size and side, and for the planted
words (whose answers do not change as the corpus grows) the ratio of the
largest size's p50 to the smallest's: a search that costs what its hits
cost stays within 1.2x.

    .venv/bin/python -m bench.search_latency [--scales 10000,364000,1000000]
        [--databases sqlite,postgresql] [--cycles 4 --rounds 5] [--baseline DIR]
        [--baseline-max-chunks 364000] [--baseline-rounds 3]

With a baseline, each size the two sides share is also printed as this
side's p50 over the baseline's. On PostgreSQL the baseline is timed in every
cycle as this side is, the two sides' runs in the opposite order each cycle,
and each side's samples pooled over the cycles: the ratio is then taken
under the same drift. The baseline's scanning SQLite search takes seconds a
query: it is timed ``--baseline-rounds`` times, in the first cycle only, and
not for the common words.

SQLite's database files live in the benchmark's temporary folder; the
PostgreSQL ones are ``<BENCH_DATABASE_URL's name>_search_<side>_<size>``,
dropped and made again at the start. Writing a million chunks takes a few
minutes per side and database.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from bench import common
from tests.processes import ROOT

DRIVER = ROOT / "bench" / "search_side.py"
GROWING = ("common word (hits grow)", "phrase of common words (hits grow)")


def side_database(bench, database: str, side: str, chunks: int) -> str:
    if database == "sqlite":
        return f"sqlite:///{bench.tmp / f'search-{side}-{chunks}.sqlite3'}"
    url = common.database_url()
    name = f"{urlparse(url).path.lstrip('/')}_search_{side}_{chunks}"
    import psycopg

    admin = urlparse(url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlparse(url)._replace(path=f"/{name}").geturl()


def run_side(bench, *, root: Path, database_url: str, chunks: int, args, rounds: int, skip=()):
    command = [sys.executable, str(DRIVER), "--root", str(root), "--chunks", str(chunks)]
    command += ["--rounds", str(rounds), "--chunks-per-document", str(args.chunks_per_document)]
    command += ["--skip", ",".join(skip)]
    done = subprocess.run(
        command,
        cwd=root,
        env={**bench.env, "DATABASE_URL": database_url, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"{root} at {chunks} chunks:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def merge(into: dict, result: dict) -> None:
    """Add a run's samples to what the earlier cycles gathered."""
    into.setdefault("chunks", result["chunks"])
    into["grow_seconds"] = into.get("grow_seconds", 0) + result["grow_seconds"]
    for name, row in result["queries"].items():
        gathered = into.setdefault("queries", {}).setdefault(
            name, {"q": row["q"], "hits": row["hits"]}
        )
        for path in ("api", "dashboard"):
            samples = gathered.setdefault(path, {"samples_ms": []})["samples_ms"]
            samples += row[path]["samples_ms"]
            gathered[path].update(_summary(samples))


def _summary(samples: list[float]) -> dict:
    p50, p99 = common.percentiles(samples, 50, 99)
    return {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="10000,364000,1000000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="each query, per size and cycle")
    parser.add_argument("--chunks-per-document", type=int, default=10_000)
    parser.add_argument("--baseline", metavar="DIR", help="another commit's checkout too")
    parser.add_argument("--baseline-max-chunks", type=int, default=364_000)
    parser.add_argument("--baseline-rounds", type=int, default=3)
    args = parser.parse_args(argv)
    scales = [int(s) for s in args.scales.split(",")]

    bench = common.setup("search_latency")
    figures = {"scales": scales, "databases": {}}
    try:
        print(f"# search latency in process ({common.load_note()})", flush=True)
        sides = {"this": ROOT}
        if args.baseline:
            sides["baseline"] = Path(args.baseline).resolve()
        for database in args.databases.split(","):
            measure_database(bench, database, sides, scales, args, figures)
        figures["load_after"] = common.load_note()
        report(figures)
        print(f"results: {common.write_results('search_latency', figures)}")
    finally:
        bench.close()
    return 0


def measure_database(bench, database: str, sides: dict, scales: list[int], args, figures) -> None:
    runs = figures["databases"].setdefault(database, {})
    targets = [
        (side, root, chunks)
        for side, root in sides.items()
        for chunks in scales
        if side == "this" or chunks <= args.baseline_max_chunks
    ]
    urls = {}
    for side, root, chunks in targets:  # written first, timed after
        urls[side, chunks] = side_database(bench, database, side, chunks)
        grown = run_side(
            bench, root=root, database_url=urls[side, chunks], chunks=chunks, args=args, rounds=0
        )
        merge(runs.setdefault(side, {}).setdefault(str(chunks), {}), grown)
    for cycle in range(args.cycles):
        # Odd cycles run backwards: each side is timed first as often as last.
        for side, root, chunks in targets[:: -1 if cycle % 2 else 1]:
            scanning = side == "baseline" and database == "sqlite"
            if scanning and cycle:
                continue
            result = run_side(
                bench,
                root=root,
                database_url=urls[side, chunks],
                chunks=chunks,
                args=args,
                rounds=args.baseline_rounds if scanning else args.rounds,
                # The scanning baseline takes seconds a search: not the common words.
                skip=GROWING if scanning else (),
            )
            merge(runs.setdefault(side, {}).setdefault(str(chunks), {}), result)
    for side, sizes in runs.items():
        for result in sizes.values():
            print_run(database, side, result)


def print_run(database: str, side: str, result: dict) -> None:
    print(f"{database} {side}: {result['chunks']} chunks (grown in {result['grow_seconds']} s)")
    for name, row in result["queries"].items():
        api, dashboard = row["api"], row["dashboard"]
        print(
            f"  {name:36} {row['hits']:>7} hits  api p50 {api['p50_ms']:9.2f} p99 {api['p99_ms']:9.2f}"
            f"  dashboard p50 {dashboard['p50_ms']:9.2f} p99 {dashboard['p99_ms']:9.2f} ms",
            flush=True,
        )


def report(figures: dict) -> None:
    flatness(figures)
    for database, sides in figures["databases"].items():
        if "baseline" in sides:
            compare(database, sides)
    print(f"  {figures['load_after']}")


def compare(database: str, sides: dict) -> None:
    print(f"{database}: this side's p50 over the baseline's, same run (below 1: faster)")
    for size, baseline in sides["baseline"].items():
        for name, before in baseline["queries"].items():
            after = sides["this"].get(size, {}).get("queries", {}).get(name)
            if after is None:
                continue
            ratios = "  ".join(
                f"{path} {before[path]['p50_ms']:8.2f} -> {after[path]['p50_ms']:7.2f} ms "
                f"x{after[path]['p50_ms'] / before[path]['p50_ms']:.2f}"
                for path in ("api", "dashboard")
            )
            hits = f"{before['hits']}->{after['hits']} hits"
            print(f"  {size:>8} {name:36} {hits:>14}  {ratios}")


def flatness(figures: dict) -> None:
    low, high = str(figures["scales"][0]), str(figures["scales"][-1])
    for database, sides in figures["databases"].items():
        this = sides["this"]
        if low not in this or high not in this:
            continue
        print(f"{database}: p50 at {high} chunks over p50 at {low} (target within 1.2x)")
        for name, row in this[high]["queries"].items():
            if name in GROWING:
                continue
            before = this[low]["queries"][name]
            ratios = [row[path]["p50_ms"] / before[path]["p50_ms"] for path in ("api", "dashboard")]
            print(f"  {name:36} api x{ratios[0]:.2f}  dashboard x{ratios[1]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
