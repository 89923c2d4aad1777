"""Every benchmark runs, at tiny sizes, so that no change breaks one unseen.

Their figures are not judged here (tests do not time things): each
benchmark's own run says what it measures. Every module of ``bench/`` that
runs as a program needs an entry in ``SMOKE``: a new benchmark without one
fails here. They run three at a time, each on a database of its own (the
tests' server, the tests' database name with ``_bench_<name>``) and a Redis
database of its own on a ``redis-server`` started for them.
"""

import os
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import ROOT, postgres_only
from tests.processes import RedisServer

# bench module -> its arguments for a run of seconds
SMOKE = {
    "api_latency": [
        *("--jobs", "2000", "--clients", "2", "--requests", "2", "--single-requests", "3"),
        *("--no-list-scale", "--search-chunks", "200", "--search-scale", "0"),
        *("--search-requests", "1"),
    ],
    "cancel_latency": [
        *("--cancels", "2", "--files", "1", "--file-mb", "0.3", "--workers", "1"),
        *("--max-delay", "0.3", "--escalations", "1"),
    ],
    "checkpoint_overhead": ["--mb", "0.3", "--rounds", "1"],
    "copy_abort": ["--rounds", "1", "--batches", "1"],
    "extract": ["--mb", "0.1", "--json-mb", "0.5", "--pdf-pages", "4"],
    "fidelity": ["--smoke"],
    "internals": ["--smoke"],
    "isolation": ["--rounds", "2"],
    "mcp_memory": ["--concurrency", "1", "--limit-mb", "1"],
    "office_extract": ["--mb", "0.3", "--slides", "4", "--rounds", "1"],
    "peers": ["--smoke"],
    "pipeline_throughput": ["--mb", "0.3", "--big-mb", "0.5", "--novel", "--novel-mb", "0.2"],
    "prepared_queries": ["--rounds", "20", "--requests", "5"],
    "representation": ["--smoke"],
    "scale_workers": ["--jobs", "2", "--files", "1", "--file-mb", "0.2"],
    "search_latency": [
        *("--scales", "200,400", "--cycles", "1", "--rounds", "1"),
        *("--chunks-per-document", "100", "--baseline", str(ROOT)),
    ],
    "soak": ["--smoke"],
    "upload_storage": ["--files", "1", "--mb", "0.3", "--rounds", "1"],
}
# Programs another benchmark runs as one of its sides, and that one's smoke
# arguments make it run them.
DRIVEN = {"ingest_side": "pipeline_throughput", "search_side": "search_latency"}
AT_ONCE = 3
SECONDS_EACH = 240


def programs() -> list[str]:
    """The modules of bench/ that run as programs."""
    return sorted(
        path.stem
        for path in (ROOT / "bench").glob("*.py")
        if 'if __name__ == "__main__":' in path.read_text()
    )


def test_every_benchmark_has_a_smoke_run():
    missing = sorted(set(programs()) - set(SMOKE) - set(DRIVEN))
    assert not missing, f"add tiny arguments for {missing} to SMOKE in {__file__}"
    assert not set(SMOKE) - set(programs()), "SMOKE names a benchmark that is gone"
    assert set(DRIVEN.values()) <= set(SMOKE), "a side's benchmark needs a smoke run"


class Runs:
    """Every smoke run, started at once (``AT_ONCE`` at a time); each test
    waits for its own."""

    def __init__(self, folder: Path):
        self.redis = RedisServer(folder)
        self.redis.start()
        self.pool = ThreadPoolExecutor(AT_ONCE, thread_name_prefix="bench-smoke")
        self.lock = threading.Lock()
        self.started: dict[str, Future] = {}
        database = urlparse(os.environ["DATABASE_URL"])
        for number, name in enumerate(SMOKE):
            url = database._replace(path=f"{database.path}_bench_{name}").geturl()
            redis = self.redis.url.rsplit("/", 1)[0] + f"/{number % 16}"
            self.started[name] = self.pool.submit(self.run, name, url, redis)

    def run(self, name: str, database: str, redis: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "BENCH_DATABASE_URL": database, "BENCH_REDIS_URL": redis}
        return subprocess.run(
            [sys.executable, "-m", f"bench.{name}", *SMOKE[name]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=SECONDS_EACH,
        )

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.redis.stop()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    started = Runs(tmp_path_factory.mktemp("bench-smoke"))
    yield started
    started.close()


@postgres_only
@pytest.mark.timeout(SECONDS_EACH * len(SMOKE) // AT_ONCE + SECONDS_EACH)
@pytest.mark.parametrize("name", sorted(SMOKE))
def test_a_benchmark_runs(runs, name):
    done = runs.started[name].result()
    assert done.returncode == 0, (
        f"bench.{name} {' '.join(SMOKE[name])} exited {done.returncode}:\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
