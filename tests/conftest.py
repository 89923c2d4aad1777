"""Shared fixtures. Tests run against the database and Redis the settings name
(PostgreSQL and a real Redis in CI); end-to-end tests start real ``rqworker``
processes against the same test database."""

import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import django_rq
import pytest
from django.db import connection
from rest_framework.test import APIClient

from ingest.models import Role
from jobs import events
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
BOTH_DATABASES = ["default", "jobstate"]


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


postgres_only = pytest.mark.skipif(not is_postgres(), reason="needs PostgreSQL")


def free_port() -> int:
    """A loopback port nothing listens on (until someone binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def isolated_storage(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    settings.INGEST_WORK_DIR = tmp_path / "work"
    return tmp_path


@pytest.fixture(autouse=True)
def no_rate_limits(settings):
    """The API's rate limits are off in tests, whose clients call far faster
    than people; test_throttling turns them on to test them."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None},
    }


@pytest.fixture(autouse=True)
def redis_conn():
    """The test Redis, emptied before each test (tests own the Redis they are given)."""
    conn = django_rq.get_connection("ingest")
    conn.flushdb()
    return conn


@pytest.fixture
def dead_redis(settings):
    """Live events and probes pointed at a port where no Redis listens."""
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    events._client.cache_clear()
    yield
    events._client.cache_clear()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def project(db, user):
    project = ProjectFactory(created_by=user)
    MembershipFactory(project=project, user=user, role=Role.OWNER)
    return project


def member(project, role):
    return MembershipFactory(project=project, role=role).user


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class ManagedProcess:
    """A real process of the service (``python <command>``) against the test
    database and Redis."""

    command: list[str]

    def __init__(self, env: dict, log_path: Path, *args: str):
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, *self.command, *args],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


class ReaperProcess(ManagedProcess):
    command = ["manage.py", "ingest_reaper", "--interval", "0.5"]


def procfile_web(**variables: str) -> list[str]:
    """The Procfile's web command (``python`` left out), its ``${NAME:-default}``
    filled from ``variables`` or the defaults: the site served as production is."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    command = next(line.split(":", 1)[1] for line in lines if line.startswith("web:"))
    command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: variables.get(m[1], m[2]), command)
    words = shlex.split(command)
    assert words[0] == "python", words
    return words[1:]


class WebProcess(ManagedProcess):
    """The Procfile's web process (gunicorn with uvicorn workers) on a free port."""

    def __init__(self, env: dict, log_path: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = procfile_web(HOST="127.0.0.1", PORT=str(self.port))
        super().__init__(env, log_path, *args)

    def answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"uvicorn exited:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:  # refused, reset, or not yet listening
            return False


class WorkerProcess(ManagedProcess):
    """A real ``manage.py rqworker ingest``; its work horses are its children."""

    command = ["manage.py", "rqworker", "ingest", "--worker-ttl", "30"]

    def horse_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.pid)], capture_output=True, text=True, check=False
        )
        return [int(p) for p in out.stdout.split()]

    def wait_for_horse(self, timeout=20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pids := self.horse_pids():
                return pids[0]
            time.sleep(0.02)
        raise AssertionError(f"no work horse started; worker log:\n{self.output()}")

    def freeze_horse(self) -> int:
        """Stop the work horse (SIGSTOP) as a step stuck mid-way would, and
        return its pid; ``os.kill(pid, signal.SIGCONT)`` resumes it.

        SQLite has one writer: a horse frozen inside its file's write
        transaction would keep every other write (the cancel the test is
        about to send) waiting for its lock. There the horse is frozen while
        this process holds the write lock, so it holds none when it stops."""
        horse = self.wait_for_horse()
        if connection.vendor != "sqlite":
            os.kill(horse, signal.SIGSTOP)
            return horse
        # SQLite's own wait backs off to 100 ms sleeps and would miss the
        # short gaps between the horse's transactions: try without waiting.
        lock = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
        deadline = time.monotonic() + 60
        try:
            while True:
                try:
                    lock.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError:  # locked: the horse is writing
                    if time.monotonic() > deadline:
                        raise AssertionError(
                            "the work horse never let go of SQLite's lock"
                        ) from None
                    time.sleep(0.001)
            os.kill(horse, signal.SIGSTOP)
            lock.execute("ROLLBACK")
        finally:
            lock.close()
        return horse

    def kill(self):
        for pid in self.horse_pids():
            os.kill(pid, signal.SIGKILL)
        super().kill()


@pytest.fixture
def worker_env(transactional_db, settings, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "INGEST_UPLOAD_DIR": str(settings.MEDIA_ROOT),
        "INGEST_WORK_DIR": str(settings.INGEST_WORK_DIR),
        "INGEST_HEARTBEAT_TIMEOUT_SECONDS": str(settings.INGEST_HEARTBEAT_TIMEOUT_SECONDS),
        "INGEST_CANCEL_GRACE_SECONDS": str(settings.INGEST_CANCEL_GRACE_SECONDS),
        "PYTHONUNBUFFERED": "1",
        # No API rate limits on the servers the tests start (see no_rate_limits).
        "API_THROTTLE_ANON": "",
        "API_THROTTLE_USER": "",
    }
    return env


def _process_starter(kind: type[ManagedProcess], worker_env: dict, tmp_path: Path):
    """Start real processes of ``kind``; all are stopped (or killed) at teardown."""
    started: list[ManagedProcess] = []

    def start(*args: str, **extra_env: str) -> ManagedProcess:
        log = tmp_path / f"{kind.__name__.lower()}-{len(started)}.log"
        proc = kind({**worker_env, **extra_env}, log, *args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
        proc.kill()


@pytest.fixture
def start_worker(worker_env, tmp_path):
    yield from _process_starter(WorkerProcess, worker_env, tmp_path)


@pytest.fixture
def start_reaper(worker_env, tmp_path):
    yield from _process_starter(ReaperProcess, worker_env, tmp_path)


@pytest.fixture
def start_web(worker_env, tmp_path):
    """Start uvicorn serving the site; each call returns once it answers."""
    starter = _process_starter(WebProcess, worker_env, tmp_path)
    start = next(starter)

    def start_answering(**extra_env: str) -> WebProcess:
        for attempt in range(3):
            server = start(**extra_env)
            try:
                wait_for(server.answers, timeout=60, message="uvicorn to answer")
                return server
            except AssertionError:
                server.stop()
                # Another process may have taken the free port meanwhile.
                if attempt == 2 or "address already in use" not in server.output():
                    raise
        raise AssertionError("uvicorn never started")

    yield start_answering
    next(starter, None)  # stops every server started


def wait_for(predicate, timeout=30.0, interval=0.02, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


# --- object storage: moto's standalone S3 server on the loopback ----------------


class MotoServer(ManagedProcess):
    """``python -m moto.server``: a real S3 API over HTTP, on a free port."""

    def __init__(self, log_path: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = ["-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        super().__init__({**os.environ, "PYTHONUNBUFFERED": "1", **env}, log_path)

    def answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"moto server exited:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                return True
        except OSError:
            return False


def _serve_moto(tmp_path_factory, **env: str):
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log", **env)
    try:
        wait_for(server.answers, timeout=60, interval=0.1, message="the moto S3 server")
        yield server
    finally:
        server.stop()
        server.kill()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    yield from _serve_moto(tmp_path_factory)


@pytest.fixture(scope="session")
def moto_server_checking_keys(tmp_path_factory):
    """A moto server that checks credentials from its first request, as S3
    does (moto's own switch): keys it never issued are refused."""
    yield from _serve_moto(tmp_path_factory, INITIAL_NO_AUTH_ACTION_COUNT="0")


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class Bucket:
    name: str
    env: dict  # what a process needs to use it
    client: object  # a boto3 client of the server, for the tests' own checks

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def remove(self) -> None:
        """The bucket goes away, objects and all."""
        for key in self.keys():
            self.client.delete_object(Bucket=self.name, Key=key)
        self.client.delete_bucket(Bucket=self.name)


@pytest.fixture
def s3(moto_server, settings):
    """Uploads on a fresh bucket of the moto server, in this process's settings;
    ``s3.env`` gives a worker the same set-up."""
    import boto3

    name = f"uploads-{uuid.uuid4().hex[:12]}"
    env = {
        "INGEST_UPLOAD_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": name,
        "AWS_S3_ENDPOINT_URL": moto_server.url,
        "AWS_S3_REGION_NAME": "us-east-1",
        **S3_CREDENTIALS,
    }
    client = boto3.client(
        "s3", endpoint_url=moto_server.url, region_name="us-east-1", **_lower(S3_CREDENTIALS)
    )
    client.create_bucket(Bucket=name)
    settings.INGEST_UPLOAD_STORAGE = "s3"
    settings.AWS_STORAGE_BUCKET_NAME = name
    settings.AWS_S3_ENDPOINT_URL = moto_server.url
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.AWS_ACCESS_KEY_ID = S3_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    settings.AWS_SECRET_ACCESS_KEY = S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage"},
    }
    settings.FILE_UPLOAD_HANDLERS = ["ingest.uploads.S3UploadHandler"]
    return Bucket(name=name, env=env, client=client)


def _lower(credentials: dict) -> dict:
    return {key.lower(): value for key, value in credentials.items()}


@pytest.fixture(params=["local"])
def upload_storage(request, worker_env):
    """Where this test's uploads go; parametrize indirectly with "s3" to run
    it on the moto bucket too. Workers started afterwards use the same."""
    if request.param == "s3":
        bucket = request.getfixturevalue("s3")
        worker_env.update(bucket.env)
        return bucket
    return None
