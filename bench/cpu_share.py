"""Where a phase's CPU went: the web processes, PostgreSQL, Redis and the
benchmark's own client, all on the same machine.

A throughput measured on one machine is bounded by the CPU every part spends
on a request, not only the web process's: a health check costs the web
process and the client, a job list also costs PostgreSQL its queries. CPU
milliseconds per request, part by part, say which part a throughput goal
depends on, and whether any work in the web process could reach it.
"""

import threading
import time

import psutil

PARTS = ("web", "postgres", "redis", "client")


class CpuMeter:
    """Snapshots of the CPU time (user and system) of each part's processes."""

    def __init__(self, web_pids: list[int]):
        self.web_pids = web_pids

    def _processes(self):
        for pid in self.web_pids:  # the server, its workers and what they started
            root = psutil.Process(pid)
            for process in (root, *root.children(recursive=True)):
                yield "web", process
        for process in psutil.process_iter(["name"]):
            name = process.info["name"] or ""
            if name.startswith("postgres"):
                yield "postgres", process
            elif name.startswith("redis-server"):
                yield "redis", process
        yield "client", psutil.Process()  # this process: the clients are its threads

    def snapshot(self) -> dict:
        seen = {}
        for part, process in self._processes():
            try:
                times = process.cpu_times()
                seen[(process.pid, process.create_time())] = (part, times.user + times.system)
            except psutil.Error:
                continue  # exited meanwhile
        return seen


def used_between(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds each part used from ``before`` to ``after``; a process that
    started meanwhile counts from zero (one that exited is not counted)."""
    used = dict.fromkeys(PARTS, 0.0)
    for key, (part, seconds) in after.items():
        used[part] += seconds - before.get(key, (part, 0.0))[1]
    return used


class CpuTally:
    """CPU per request of each labelled phase, summed over its phases."""

    def __init__(self, meter: CpuMeter):
        self.meter = meter
        self.totals: dict[str, dict] = {}

    def measure(self, label: str, requests: int, run):
        before = self.meter.snapshot()
        result = run()
        used = used_between(before, self.meter.snapshot())
        total = self.totals.setdefault(label, {"requests": 0, **dict.fromkeys(PARTS, 0.0)})
        total["requests"] += requests
        for part in PARTS:
            total[part] += used[part]
        return result

    def per_request_ms(self) -> dict[str, dict[str, float]]:
        figures = {}
        for label, total in self.totals.items():
            row = {part: 1000 * total[part] / total["requests"] for part in PARTS}
            row["total"] = sum(row.values())
            figures[label] = {part: round(value, 3) for part, value in row.items()}
        return figures


def process_and_reaped_children_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and of the children it has waited for: a
    worker's, with its finished work horses, when read while it has none."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system + times.children_user + times.children_system


class DatabaseCpu(threading.Thread):
    """The CPU seconds one database's backends used, sampled every
    ``interval``: they come and go with each connection, and one that exits
    counts up to its last sample, so the interval is kept short. Backends of
    other databases on the same server (and the server's shared background
    processes) are not counted."""

    def __init__(self, database: str, *, interval: float = 0.05):
        super().__init__(daemon=True, name=f"cpu-{database}")
        self.database = database
        self.interval = interval
        self.first: dict[tuple, float] = {}
        self.last: dict[tuple, float] = {}
        self.before: set[tuple] = set()
        self._ours: dict[tuple, bool] = {}
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.sample()

    def _backends(self):
        for process in psutil.process_iter(["name"]):
            if not (process.info["name"] or "").startswith("postgres"):
                continue
            try:
                key = (process.pid, process.create_time())
                if key not in self._ours:
                    # "postgres: 15/main: <user> <database> <client> <state>"
                    ours = f" {self.database} " in " ".join(process.cmdline())
                    # A backend forked a moment ago may still show the
                    # postmaster's command line: judged again until it is older.
                    if ours or time.time() - key[1] > 1:
                        self._ours[key] = ours
            except psutil.Error:
                continue
            if self._ours.get(key):
                yield key, process

    def sample(self) -> None:
        for key, process in self._backends():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            with self._lock:
                self.first.setdefault(key, times.user + times.system)
                self.last[key] = times.user + times.system

    def begin(self) -> "DatabaseCpu":
        self.sample()
        self.before = set(self.first)
        self.start()
        return self

    def seconds(self, *, excluding=()) -> float:
        """CPU seconds used since ``begin`` (a backend that started later
        counts from its start), but by the backends of ``excluding`` (pids)."""
        self.sample()
        with self._lock:
            return sum(
                used - (self.first[key] if key in self.before else 0.0)
                for key, used in self.last.items()
                if key[0] not in excluding
            )

    def stop(self, *, excluding=()) -> float:
        used = self.seconds(excluding=excluding)
        self._stopped.set()
        self.join(2)
        return used
