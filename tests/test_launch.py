"""``python3 run.py`` (``config.launch serve``): the Procfile's processes, with
WORKERS workers, started by honcho; the URL printed once the site answers;
Ctrl-C stops every one of them."""

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from redis import Redis
from rq import Worker

from config import launch
from tests.processes import ManagedProcess, descendants_of, free_port, wait_for


def test_the_procfiles_processes_are_started_with_workers_copies_of_the_worker(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    processes = launch.processes(workers=3)

    names = [process.name for process in processes]
    assert names == ["web.1", "worker.1", "worker.2", "worker.3", "reaper.1"]
    procfile = launch.procfile()
    assert [process.cmd for process in processes] == [
        procfile["web"],
        *[procfile["worker"]] * 3,
        procfile["reaper"],
    ]
    assert launch.web_port(processes) == 8123
    # "python" in the Procfile is this virtual environment's.
    assert all(
        process.env["PATH"].startswith(str(Path(sys.executable).parent)) for process in processes
    )


class Launch(ManagedProcess):
    command = ["-m", "config.launch"]


def alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


PROBE = """
import json, os, pathlib, redis

def test_probe():
    # What the real suite does first (tests/conftest.py): empty its Redis.
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushall()
    pathlib.Path(os.environ["PROBE_OUT"]).write_text(json.dumps(
        {"redis": os.environ["REDIS_URL"], "var": os.environ["INGEST_VAR_DIR"]}))
"""


def run_a_test_session(processes, tmp_path, env: dict) -> dict:
    """``python3 run.py test`` in the same checkout, with a test file that
    flushes the Redis it is given; what that test saw."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "test_probe.py").write_text(PROBE)
    (probe / "pytest.ini").write_text("[pytest]\n")
    out = probe / "seen.json"
    args = ["test", str(probe), "-c", str(probe / "pytest.ini"), "-p", "no:django", "-q"]
    session = processes.start(Launch, *args, label="test-session", PROBE_OUT=str(out), **env)
    assert session.proc.wait(120) == 0, session.output()
    return json.loads(out.read_text())


@pytest.mark.e2e
def test_serve_runs_web_workers_and_reaper_until_ctrl_c_stops_them_all(
    processes, worker_env, tmp_path
):
    """On the zero-set-up default (the embedded Redis): a test session beside
    the running app uses a Redis and a var/ of its own, and Ctrl-C leaves no
    traceback, no process and no temporary folder behind."""
    port = free_port()
    var, temp = tmp_path / "var", tmp_path / "system-tmp"
    temp.mkdir()
    worker_env.pop("REDIS_URL")  # as on a fresh clone: run.py starts Redis itself
    own = {"INGEST_VAR_DIR": str(var), "TMPDIR": str(temp)}
    run = processes.start(
        Launch, "serve", HOST="127.0.0.1", PORT=str(port), WORKERS="2", WEB_CONCURRENCY="1", **own
    )
    url = f"http://127.0.0.1:{port}/"

    def printed() -> bool:
        if run.proc.poll() is not None:
            raise AssertionError(f"run.py exited:\n{run.output()}")
        return f"Ingest is running at {url}" in run.output()

    wait_for(printed, timeout=120, interval=0.1, message="the URL to be printed")
    with urllib.request.urlopen(f"{url}healthz", timeout=10) as response:
        assert response.status == 200
    app_redis = Redis.from_url(re.search(r"Embedded Redis at (\S+)", run.output())[1])
    assert app_redis.connection_pool.connection_kwargs["path"].startswith(str(var / "redis"))
    wait_for(lambda: len(Worker.all(connection=app_redis)) == 2, message="two workers listening")

    seen = run_a_test_session(processes, tmp_path, own)
    assert seen["var"] == str(var / "test")
    assert seen["redis"] != f"unix://{app_redis.connection_pool.connection_kwargs['path']}"
    assert len(Worker.all(connection=app_redis)) == 2  # the app's Redis kept its data
    with urllib.request.urlopen(f"{url}readyz", timeout=10) as response:
        assert response.status == 200
    started = descendants_of(run.pid)

    run.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    try:
        code = run.proc.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after Ctrl-C:\n{run.output()}") from None

    assert code == 130, run.output()  # as a shell reports SIGINT, and honcho start exits
    assert "Traceback" not in run.output()
    wait_for(lambda: not any(alive(pid) for pid in started), timeout=10, message="all stopped")
    assert not list(temp.rglob("*redis*")), list(temp.rglob("*"))
    assert (var / "redis" / "redis.db").exists()  # its data kept for the next run
    assert not (var / "redis" / "redis.sock").exists()


def test_a_taken_port_is_named_before_anything_starts(processes):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = processes.start(Launch, "serve", HOST="127.0.0.1", PORT=str(port))
        assert run.proc.wait(60) == 1
    output = run.output()
    assert f"Port {port} on 127.0.0.1 is already in use" in output
    assert f"PORT={port + 1} python3 run.py" in output
    assert "Ingest is running" not in output
    assert "Operations to perform" not in output and "migrat" not in output.lower()


class Answers(BaseHTTPRequestHandler):
    """503 to the first ``failures`` requests (a web process still loading), then 200."""

    failures = 3
    seen: list[int]

    def do_GET(self):
        status = 503 if len(self.seen) < self.failures else 200
        self.seen.append(status)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_banner_is_printed_only_once_healthz_answers():
    Answers.seen = []
    server = HTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    said = []
    try:
        url = f"http://127.0.0.1:{server.server_port}/healthz"
        assert launch.announce(url, "banner", say=lambda text: said.append(list(Answers.seen)))
    finally:
        server.shutdown()
        server.server_close()
    assert said == [[503, 503, 503, 200]]  # not while the port answered 503


def test_the_banner_is_not_printed_when_nothing_answers():
    said = []
    assert not launch.announce(
        f"http://127.0.0.1:{free_port()}/healthz", "banner", timeout=0.5, say=said.append
    )
    assert said == []
