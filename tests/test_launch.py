"""``python3 run.py`` (``config.launch serve``): the Procfile's processes, with
WORKERS workers, started by honcho; the URL printed once the site answers;
Ctrl-C stops every one of them."""

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
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


@pytest.mark.e2e
def test_serve_runs_web_workers_and_reaper_until_ctrl_c_stops_them_all(processes, redis_conn):
    port = free_port()
    run = processes.start(
        Launch, "serve", HOST="127.0.0.1", PORT=str(port), WORKERS="2", WEB_CONCURRENCY="1"
    )
    url = f"http://127.0.0.1:{port}/"

    def printed() -> bool:
        if run.proc.poll() is not None:
            raise AssertionError(f"run.py exited:\n{run.output()}")
        return f"Ingest is running at {url}" in run.output()

    wait_for(printed, timeout=120, interval=0.1, message="the URL to be printed")
    with urllib.request.urlopen(f"{url}healthz", timeout=10) as response:
        assert response.status == 200
    wait_for(
        lambda: len(Worker.all(connection=redis_conn)) == 2,
        message="two workers listening",
    )
    started = descendants_of(run.pid)

    run.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    try:
        code = run.proc.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after Ctrl-C:\n{run.output()}") from None

    assert code == 130, run.output()  # as a shell reports SIGINT, and honcho start exits
    wait_for(lambda: not any(alive(pid) for pid in started), timeout=10, message="all stopped")
    assert Worker.all(connection=redis_conn) == []
