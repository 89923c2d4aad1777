"""Shared fixtures. Tests run against the database and Redis the settings name
(PostgreSQL and a real Redis in CI); end-to-end tests start real ``rqworker``
processes against the same test database."""

import os
import uuid
from dataclasses import dataclass

import django_rq
import pytest
from django.db import connection
from rest_framework.test import APIClient

from ingest.models import Role
from jobs import events
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

# The process harness is shared with the benchmarks; tests import its
# helpers from here, beside the fixtures built on it.
from tests.processes import (
    ROOT,  # noqa: F401
    MotoServer,
    ProcessGroup,
    ReaperProcess,
    WebProcess,
    WorkerProcess,
    free_port,
    serve,
    wait_for,  # noqa: F401
)

BOTH_DATABASES = ["default", "jobstate"]


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


postgres_only = pytest.mark.skipif(not is_postgres(), reason="needs PostgreSQL")


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


@pytest.fixture
def processes(worker_env, tmp_path):
    """Real processes started with ``worker_env``; all are stopped (or killed) at teardown."""
    group = ProcessGroup(worker_env, tmp_path)
    yield group
    group.stop_all()


@pytest.fixture
def start_worker(processes):
    return lambda *args, **extra_env: processes.start(WorkerProcess, *args, **extra_env)


@pytest.fixture
def start_reaper(processes):
    return lambda *args, **extra_env: processes.start(ReaperProcess, *args, **extra_env)


@pytest.fixture
def start_web(processes):
    """Start the Procfile's web serving the site; each call returns once it answers."""
    return lambda **extra_env: serve(lambda: processes.start(WebProcess, **extra_env))


# --- object storage: moto's standalone S3 server on the loopback ----------------


def _serve_moto(tmp_path_factory, **env: str):
    moto = ProcessGroup(
        {**os.environ, "PYTHONUNBUFFERED": "1", **env}, tmp_path_factory.mktemp("moto")
    )
    try:
        yield serve(lambda: moto.start(MotoServer))
    finally:
        moto.stop_all()


@pytest.fixture(scope="session")
def truth_documents() -> dict:
    """The documents of known text (tests/truth), by name: made once by
    Chromium and LibreOffice, then reused by every session."""
    from tests.truth import corpus

    return {document.name: document for document in corpus()}


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
