"""Shared helpers for the benchmarks: a real PostgreSQL database and Redis,
real ``rqworker`` and web processes (through the tests' process harness,
``tests.processes``), memory of a process tree, percentiles, results.

Each benchmark calls :func:`setup` before importing anything that touches
Django models. The database and Redis default to ``bench_c`` and Redis db 8,
overridable with ``BENCH_DATABASE_URL`` / ``BENCH_REDIS_URL`` (deliberately
not ``DATABASE_URL``: a shell exported for tests must not point a benchmark,
which truncates its tables, at someone else's database).
"""

import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from bench.prose import write_text_file  # noqa: F401 (the benchmarks call it here)
from tests.processes import (
    ROOT,
    ProcessGroup,
    ServerProcess,
    WorkerProcess,
    descendants_of,
    serve,
    wait_for,
)

RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_c"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
MB = 1024 * 1024

# The columns the benches' ``INSERT ... SELECT`` statements fill: every NOT NULL
# column without a database default, so a new one is added here once.
JOB_COLUMNS = """
    id, project_id, name, status, version, created_by_id, created_at, started_at,
    finished_at, deleted_at, worker_host, items_total, items_done, items_failed,
    bytes_total, bytes_done, error, result, chunk_size, chunk_overlap,
    status_before_delete"""


class BenchEnv(ProcessGroup):
    """A benchmark's environment (``env``, for its worker, reaper and web
    processes) and temporary folder, where its processes log."""

    def __init__(self, name: str, tmp: Path, env: dict):
        super().__init__(env, tmp)
        self.name = name
        self.tmp = tmp

    def close(self) -> None:
        self.stop_all()
        shutil.rmtree(self.tmp, ignore_errors=True)


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)


def setup(name: str) -> BenchEnv:
    """Point Django at the benchmark database and Redis, migrate, start empty."""
    database_url = globals()["database_url"]()
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    # Production-like: DEBUG off, so no query log or debug cursor wrapper
    # inflates the per-query cost in any process.
    overrides = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-secret-key-" + "x" * 40,
        # Served over plain HTTP on the loopback: no HTTPS redirect or secure cookies.
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        # The benchmarks measure the service, not its rate limits.
        "API_THROTTLE_ANON": "",
        "API_THROTTLE_USER": "",
        "INGEST_UPLOAD_DIR": str(tmp / "uploads"),
        "INGEST_WORK_DIR": str(tmp / "work"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(overrides)
    sys.path.insert(0, str(ROOT))
    ensure_database(database_url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    reset_data()
    redis_connection().flushdb()  # Redis db 8 belongs to the benchmarks
    return BenchEnv(name=name, tmp=tmp, env={**os.environ, **overrides})


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def reset_data() -> None:
    """Empty the job, document and project tables (the benchmark database only)."""
    from django.apps import apps
    from django.db import connection

    tables = [
        model._meta.db_table
        for label in ("ingest", "jobs")
        for model in apps.get_app_config(label).get_models()
    ]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")


def redis_connection():
    import django_rq

    return django_rq.get_connection("ingest")


def bench_user(username: str = "bench"):
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=username)
    return user


def new_project(user, name: str):
    from ingest.services import project_create

    return project_create(user=user, name=name)


def create_job(*, project, user, paths: list[Path], **options):
    """A job through the real service, its uploads opened from ``paths``."""
    from django.core.files import File

    from ingest.services import job_create

    handles = [path.open("rb") for path in paths]
    try:
        uploads = [
            File(handle, name=path.name) for handle, path in zip(handles, paths, strict=True)
        ]
        job, _ = job_create(project=project, user=user, uploads=uploads, **options)
    finally:
        for handle in handles:
            handle.close()
    return job


def remove_job_uploads(job) -> None:
    """Free the disk the job's stored uploads take (benchmarks create many)."""
    from django.conf import settings

    shutil.rmtree(Path(settings.MEDIA_ROOT) / "jobs" / str(job.project_id), ignore_errors=True)


def job_status(job_id) -> str:
    from ingest.models import IngestJob

    # Autocommit: each read is its own transaction and sees the latest commit.
    return IngestJob.all_objects.filter(pk=job_id).values_list("status", flat=True).first()


# --- processes ---------------------------------------------------------------


class UvicornProcess(ServerProcess):
    """One uvicorn process serving ``app``, without the Procfile's gunicorn."""

    probe = "/healthz"
    app = "config.asgi:application"
    factory = False  # whether ``app`` names a function that returns the application

    def argv(self, *args: str) -> list[str]:
        args = [sys.executable, "-m", "uvicorn", self.app, *(["--factory"] if self.factory else [])]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        return [*args, "--no-access-log"]


def start_web(bench: BenchEnv, kind: type[ServerProcess] = UvicornProcess) -> ServerProcess:
    """A web server of ``kind`` on a free port, once it answers."""
    return serve_web(bench, kind, label="web")


def serve_web(bench: BenchEnv, kind: type[ServerProcess], *args: str, **options) -> ServerProcess:
    """``bench.start(kind, *args, **options)``, once it answers."""
    return serve(lambda: bench.start(kind, *args, **options))


def start_worker(bench: BenchEnv, *, label: str = "worker", **extra_env: str) -> WorkerProcess:
    """A real ``manage.py rqworker ingest``; returns once it listens on the queue."""
    return start_workers(bench, 1, label=label, **extra_env)[0]


def start_workers(bench: BenchEnv, count: int, *, label: str = "worker", **extra_env: str):
    """``count`` workers started together, so none gets a head start on the queue."""
    from rq import Worker as RQWorker

    workers = [bench.start(WorkerProcess, label=label, **extra_env) for _ in range(count)]
    conn = redis_connection()

    def listening():
        for worker in workers:
            if worker.proc.poll() is not None:
                raise RuntimeError(f"worker exited; its log:\n{worker.output()}")
        pids = {w.pid for w in RQWorker.all(connection=conn)}
        return all(worker.pid in pids for worker in workers)

    wait_for(listening, timeout=60, interval=0.05, message="the workers to listen")
    return workers


def memory_kb(pid: int) -> dict[str, int] | None:
    """VmHWM (the kernel's peak resident set) and VmRSS of ``pid``, in KiB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0])
    return values or None


class MemoryWatcher(threading.Thread):
    """Polls a process and its descendants for their peak resident memory.

    VmHWM is the kernel's own high-water mark, so a peak between two polls
    is not missed as long as the process is read once more before it exits;
    a horse's last read can be up to one interval early, hence the short one.
    """

    def __init__(self, root_pid: int, *, interval: float = 0.02):
        super().__init__(daemon=True, name=f"memory-{root_pid}")
        self.root_pid = root_pid
        self.interval = interval
        self.peaks: dict[int, dict[str, int]] = {}
        self.first_rss: dict[int, int] = {}
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            self.sample()
            self._stopped.wait(self.interval)
        self.sample()

    def sample(self) -> None:
        for pid in [self.root_pid, *descendants_of(self.root_pid)]:
            values = memory_kb(pid)
            if values is None:
                continue
            peak = self.peaks.setdefault(pid, {"VmHWM": 0, "VmRSS": 0})
            self.first_rss.setdefault(pid, values.get("VmRSS", 0))
            for key, value in values.items():
                peak[key] = max(peak[key], value)

    def stop(self) -> None:
        self._stopped.set()
        self.join(5)

    def root_peak_mb(self) -> float:
        return self.peaks.get(self.root_pid, {}).get("VmHWM", 0) / 1024

    def horses(self) -> dict[int, dict[str, float]]:
        return {
            pid: {
                "vmhwm_mb": peak["VmHWM"] / 1024,
                "max_vmrss_mb": peak["VmRSS"] / 1024,
                "rss_at_fork_mb": self.first_rss[pid] / 1024,
            }
            for pid, peak in self.peaks.items()
            if pid != self.root_pid
        }


# --- figures -----------------------------------------------------------------


def percentiles(values, *points: int) -> list[float]:
    """The ``points``-th percentiles of ``values`` (nan when there are none):
    ``statistics.quantiles``' "inclusive" method interpolates between closest
    ranks, as numpy's default does."""
    values = list(values)
    if len(values) < 2:  # too few for quantiles()
        return [values[0] if values else math.nan for _ in points]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return [cuts[point - 1] for point in points]


def in_process_ms(calls: dict, rounds: int) -> dict:
    """p50 and p99 ms of each of ``calls`` (a name's callable), run ``rounds``
    times in this process, one after the other in each round."""
    timings = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000)
    figures = {}
    for name, values in timings.items():
        p50, p99 = percentiles(values, 50, 99)
        figures[name] = {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2)}
    return figures


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) / {five:.2f} (5 min) on {os.cpu_count()} cores"


def write_results(name: str, figures: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    meta = {
        "benchmark": name,
        "at": stamp,
        "host": platform.node(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load": load_note(),
    }
    path.write_text(json.dumps({**meta, **figures}, indent=2, default=str) + "\n")
    return path
