"""``bench.pipeline_throughput --novel``: real prose from upload to searchable,
this commit beside a baseline commit, in one run.

The upload is a public-domain novel (War and Peace, Project Gutenberg #2600,
``bench/corpus/``) repeated to about ``--novel-mb``: each copy a file of its
own, made distinct by starting at a different place in the book and by a
header and a last line naming the copy. One job holds all the files; the
time that counts runs from the create call until a search for the last
file's last words finds it, as a user waiting to search would see it.

Each side (this checkout, and with ``--baseline DIR`` another commit's
checkout) has its own database, migrated by its own code, and its own
worker, started for its runs only; the sides run in rounds A B B A, so a
drift of this shared machine's speed falls on both. For each run: MB/s
until searchable, until completed, and the job's own ``started_at``..
``finished_at``; the CPU seconds per MB of the database's backends (until
searchable, and once the database is idle again, which includes any index
maintenance left for later) and of the worker with its work horse.
"""

import gzip
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from bench import common, cpu_share
from tests.processes import ROOT, WorkerProcess

NOVEL = ROOT / "bench" / "corpus" / "war-and-peace.txt.gz"
SIDE_DRIVER = ROOT / "bench" / "ingest_side.py"
SETTLE_TIMEOUT = 180  # seconds to wait for the database to be idle after a run


def write_copies(folder: Path, *, target_mb: float) -> tuple[list[Path], str]:
    """The novel repeated to about ``target_mb``, one distinct file per copy;
    returns the files and a word only the last one holds, at its very end."""
    text = gzip.decompress(NOVEL.read_bytes()).decode("utf-8").lstrip("\ufeff")
    size_mb = len(text.encode("utf-8")) / common.MB
    count = max(1, round(target_mb / size_mb))
    paths = []
    for number in range(1, count + 1):
        cut = text.find("\n\n", len(text) * (number - 1) // count) + 2
        body = text[cut:] + "\n\n" + text[:cut]
        path = folder / f"war-and-peace-{number:02d}.txt"
        path.write_text(
            f"War and Peace, copy {number} of {count}\n\n{body}\n\nEnd of copy {number}: "
            f"copy{number:02d}finis\n",
            encoding="utf-8",
        )
        paths.append(path)
    return paths, f"copy{count:02d}finis"


class Side:
    """A checkout measured: its code, its database and its worker."""

    def __init__(self, bench, *, name: str, root: Path, database_url: str):
        self.bench, self.name, self.root, self.database_url = bench, name, root, database_url
        self.database = urlparse(database_url).path.lstrip("/")
        self.runs: list[dict] = []

    def prepare(self) -> None:
        common.ensure_database(self.database_url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=self.root,
            env={**self.bench.env, "DATABASE_URL": self.database_url, "PYTHONPATH": ""},
            check=True,
        )
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND (tablename LIKE 'ingest\\_%' OR tablename LIKE 'jobs\\_%')"
            ).fetchall()
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for (t,) in tables) + " CASCADE")
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")

    def run(self, files: list[Path], last_words: str) -> dict:
        side = self

        class SideWorker(WorkerProcess):
            cwd = side.root

        worker = self.bench.start(
            SideWorker, label=f"worker-{self.name}", DATABASE_URL=self.database_url, PYTHONPATH=""
        )
        common.wait_for(lambda: _listening(worker), timeout=60, message="the worker to listen")
        try:
            return self._measure(worker, files, last_words)
        finally:
            self.bench.stop(worker)

    def _measure(self, worker, files: list[Path], last_words: str) -> dict:
        database = cpu_share.DatabaseCpu(self.database).begin()
        worker_before = cpu_share.process_and_reaped_children_seconds(worker.pid)
        label = f"{self.name} {len(self.runs) + 1}"
        command = [sys.executable, str(SIDE_DRIVER), "--root", str(self.root), "--label", label]
        driver = subprocess.run(
            [*command, "--last-words", last_words, *map(str, files)],
            cwd=self.root,
            env={**self.bench.env, "DATABASE_URL": self.database_url, "PYTHONPATH": ""},
            capture_output=True,
            text=True,
        )
        if driver.returncode:
            raise RuntimeError(f"{self.name}: {driver.stderr}\n{worker.output()[-3000:]}")
        figures = json.loads(driver.stdout.strip().splitlines()[-1])
        # The driver's polls (a search every 25 ms) are the benchmark's work.
        polls = set(figures.pop("driver_backends"))
        until_searchable = database.seconds(excluding=polls)
        _settle(database)
        mb = figures["bytes"] / common.MB
        run = {
            **figures,
            "mb": round(mb, 2),
            "searchable_mb_s": round(mb / figures["searchable_seconds"], 2),
            "completed_mb_s": round(mb / figures["completed_seconds"], 2),
            "job_mb_s": round(mb / figures["job_seconds"], 2),
            "database_cpu_s_per_mb_until_searchable": round(until_searchable / mb, 4),
            "database_cpu_s_per_mb": round(database.stop(excluding=polls) / mb, 4),
            "worker_cpu_s_per_mb": round(
                (cpu_share.process_and_reaped_children_seconds(worker.pid) - worker_before) / mb, 4
            ),
        }
        self.runs.append(run)
        return run


def _listening(worker) -> bool:
    from rq import Worker as RQWorker

    if worker.proc.poll() is not None:
        raise RuntimeError(f"worker exited; its log:\n{worker.output()}")
    return worker.pid in {w.pid for w in RQWorker.all(connection=common.redis_connection())}


def _settle(database: cpu_share.DatabaseCpu) -> None:
    """Until the database's backends stop using CPU: what a run left for
    later (index maintenance) is counted with it."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    quiet, last = 0, database.seconds()
    while quiet < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
        now = database.seconds()
        quiet = quiet + 1 if now - last < 0.01 else 0
        last = now


def measure(bench, args) -> dict:
    files, last_words = write_copies(bench.tmp, target_mb=args.novel_mb)
    this_url = common.database_url()
    sides = [Side(bench, name="this", root=ROOT, database_url=this_url)]
    if args.baseline:
        root = Path(args.baseline).resolve()
        if not (root / "manage.py").is_file():
            raise SystemExit(f"--baseline {args.baseline}: not a checkout of this project")
        baseline_url = this_url.rsplit("/", 1)[0] + f"/{sides[0].database}_baseline"
        sides.append(Side(bench, name="baseline", root=root, database_url=baseline_url))
    for side in sides:
        side.prepare()
    order = [sides[0], *sides[1:], *reversed(sides[1:]), sides[0]] if len(sides) > 1 else sides
    for _ in range(args.novel_rounds):
        for side in order:
            run = side.run(files, last_words)
            print(
                f"  {side.name:8} searchable {run['searchable_mb_s']:6.2f} MB/s  "
                f"completed {run['completed_mb_s']:6.2f}  job {run['job_mb_s']:6.2f}  "
                f"db {run['database_cpu_s_per_mb']:.4f} s/MB  "
                f"worker {run['worker_cpu_s_per_mb']:.4f} s/MB",
                flush=True,
            )
    return {
        "files": len(files),
        "mb": round(sum(path.stat().st_size for path in files) / common.MB, 2),
        "sides": {side.name: {"root": str(side.root), "runs": side.runs} for side in sides},
    }


KEYS = (
    ("searchable_mb_s", "MB/s, create until the last words are searchable"),
    ("completed_mb_s", "MB/s, create until completed"),
    ("job_mb_s", "MB/s, the job's own started_at..finished_at"),
    ("database_cpu_s_per_mb_until_searchable", "database CPU s/MB until searchable"),
    ("database_cpu_s_per_mb", "database CPU s/MB, until idle again"),
    ("worker_cpu_s_per_mb", "worker and work horse CPU s/MB"),
)


def report(figures: dict) -> None:
    sides = figures["sides"]
    print(f"novel: {figures['files']} files, {figures['mb']:.1f} MB (medians of the runs)")
    names = list(sides)
    print(
        f"  {'':58}"
        + "".join(f"{name:>10}" for name in names)
        + ("   ratio" if len(names) > 1 else "")
    )
    for key, title in KEYS:
        values = [statistics.median(run[key] for run in sides[name]["runs"]) for name in names]
        ratio = f"  x{values[0] / values[1]:.2f}" if len(values) > 1 and values[1] else ""
        print(f"  {title:58}" + "".join(f"{value:10.4g}" for value in values) + ratio)
