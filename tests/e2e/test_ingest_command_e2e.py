"""``manage.py ingest`` as a person runs it, against a real rqworker: followed
to the end, cancelled through the Ctrl-C prompt at a terminal, left running,
and refused bad input."""

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from ingest.models import Document, Role
from jobs.lifecycle import events_for
from jobs.models import JobStatus
from tests.conftest import ROOT, member, wait_for
from tests.e2e.helpers import finished, job_row, prose

pytestmark = [pytest.mark.e2e]

JOB_ID = re.compile(r"job ([0-9a-f-]{36}) ")


class Console:
    """A command run as a person runs it: at a terminal (a pseudo-terminal,
    so it draws its progress bar) or with its input and output piped. Its
    output is read as it comes, so it never blocks on a full pipe."""

    def __init__(self, argv: list[str], env: dict, *, cwd: Path = ROOT, terminal: bool = False):
        if terminal:
            parent, child = pty.openpty()
            fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
            self.proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=child, stdout=child, stderr=child, close_fds=True
            )
            os.close(child)
            self.reader = self.writer = parent
        else:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            self.reader, self.writer = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        self.received = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.reader, 65536)
            except OSError:  # EIO: the terminal's other side has closed
                return
            if not data:
                return
            self.received += data

    @property
    def output(self) -> str:
        return bytes(self.received).decode(errors="replace").replace("\r\n", "\n")

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := re.search(pattern, self.output):
                return found
            if self.proc.poll() is not None and not self.thread.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} never appeared; output:\n{self.output}")

    def job_id(self) -> str:
        return self.wait_for(JOB_ID.pattern).group(1)

    def interrupt(self):
        self.proc.send_signal(signal.SIGINT)

    def type(self, text: str):
        os.write(self.writer, text.encode())

    def finish(self, timeout: float = 90) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"still running after {timeout}s; output:\n{self.output}"
            ) from None
        self.thread.join(5)
        return code

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def console(tmp_path):
    """Start Consoles; any still running at teardown is killed."""
    started: list[Console] = []

    def start(argv, env, **options) -> Console:
        started.append(Console(argv, env, **options))
        return started[-1]

    yield start
    for each in started:
        each.stop()


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def batch(folder: Path, count: int, size: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"part{n:02d}.txt").write_bytes(prose(seed + n, size))
    return folder


def ingest_args(project, user, folder, *extra) -> list[str]:
    return manage(
        "ingest",
        project.name,
        str(folder),
        "--user",
        user.username,
        "--chunk-size",
        "50",
        "--chunk-overlap",
        "0",
        "--interval",
        "0.2",
        *extra,
    )


def test_ingest_follows_the_job_to_the_end_and_prints_the_summary(
    project, user, start_worker, worker_env, tmp_path
):
    folder = batch(tmp_path / "batch", 3, 20_000, seed=10)
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    start_worker()

    done = subprocess.run(
        ingest_args(project, user, folder, "--name", "nightly"),
        cwd=ROOT,
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "created in project" in done.stdout
    for n in range(3):
        assert re.search(rf"  done        batch/part0{n}\.txt  \d+ chunks\n", done.stdout)
    assert "job 'nightly' completed: 3 done; 3 documents created." in done.stdout
    assert "skipped: batch/logo.png: type .png is not supported" in done.stderr
    # Not a terminal: plain progress lines, no bar.
    assert "job 'nightly' completed: 3/3 files" in done.stderr
    assert "\r" not in done.stderr and "%|" not in done.stderr
    job = job_row(JOB_ID.search(done.stdout).group(1))
    assert job.status == JobStatus.COMPLETED
    assert Document.objects.filter(job=job).count() == 3


def test_ctrl_c_at_a_terminal_then_yes_cancels_and_keeps_the_finished_files(
    project, user, start_worker, worker_env, tmp_path, console
):
    folder = batch(tmp_path / "batch", 40, 500_000, seed=20)
    start_worker()
    session = console(
        ingest_args(project, user, folder, "--name", "nightly"), worker_env, terminal=True
    )
    job_id = session.job_id()
    wait_for(lambda: job_row(job_id).items_done >= 1, timeout=60, message="a file done")
    session.wait_for(r"\d+/40 files, running")

    session.interrupt()
    session.wait_for(re.escape("cancel job 'nightly'? [y/N] "))
    session.type("y\n")

    assert session.finish() == 3, session.output
    job = job_row(job_id)
    assert job.status == JobStatus.CANCELLED
    kept = Document.objects.filter(job=job).count()
    assert 1 <= kept < 40
    assert "%|" in session.output  # a terminal gets the bar
    assert "cancelling job 'nightly': it stops at its next checkpoint" in session.output
    assert (
        f"job 'nightly' cancelled: kept {kept} of 40 files "
        f"({kept} document{'' if kept == 1 else 's'} created); "
        f"{40 - kept} not reached." in session.output
    )
    assert session.output.count("  not reached batch/part") == 40 - kept
    cancel = events_for(job).get(action="cancel")
    assert (cancel.actor, cancel.reason) == (user, "cancelled from the command line")


def test_ctrl_c_then_no_leaves_the_job_running_and_exits_0(
    project, user, start_worker, worker_env, tmp_path, console
):
    folder = batch(tmp_path / "batch", 20, 1_000_000, seed=40)
    start_worker()
    session = console(ingest_args(project, user, folder, "--name", "nightly"), worker_env)
    job_id = session.job_id()
    session.wait_for(r"job 'nightly' running: ")

    session.interrupt()
    session.wait_for(re.escape("cancel job 'nightly'? [y/N] "))
    session.type("n\n")

    assert session.finish() == 0, session.output
    assert "job 'nightly' is still running; it was left to finish on its own." in session.output
    assert f"see how it goes with: manage.py job {job_id}" in session.output
    job = wait_for(lambda: finished(job_id), timeout=120, message="the job to finish")
    assert job.status == JobStatus.COMPLETED
    assert not events_for(job).filter(action="cancel").exists()


def test_bad_input_is_one_sentence_on_stderr_and_exit_2(project, user, worker_env, tmp_path):
    viewer = member(project, Role.VIEWER)
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "a.txt").write_text("alpha")
    cases = {
        "no such file or folder": ingest_args(project, user, tmp_path / "missing"),
        "nothing to ingest": ingest_args(project, user, folder),
        "is not a member of any project": manage(
            "ingest", "Elsewhere", str(tmp_path / "a.txt"), "--user", user.username
        ),
        "cannot start jobs": manage(
            "ingest", project.name, str(tmp_path / "a.txt"), "--user", viewer.username
        ),
        "chunk_size must be between": ingest_args(
            project, user, tmp_path / "a.txt", "--chunk-size", "10"
        ),
    }

    for message, argv in cases.items():
        done = subprocess.run(
            argv, cwd=ROOT, env=worker_env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, (message, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert lines[-1].startswith("CommandError: ") and message in lines[-1], done.stderr
        assert "Traceback" not in done.stderr
