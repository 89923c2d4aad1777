"""Nothing stays RUNNING or CANCELLING forever, nothing QUEUED is lost: the
reaper against real workers that hang, die, or lose their Redis."""

import os
import signal
import time

import pytest

from ingest.models import Document, FileStatus, IngestFile
from jobs.models import JobStatus
from tests.conftest import wait_for
from tests.e2e.helpers import (
    assert_valid_chain,
    create_job,
    event_chain,
    finished,
    in_status,
    job_row,
    job_url,
    text_file,
)
from tests.processes import RedisServer

pytestmark = [pytest.mark.e2e]
GRACE = 2
HEARTBEAT_TIMEOUT = 3


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return "zombie" in status.read()
    except FileNotFoundError:
        return True


def test_hung_step_is_stopped_after_the_grace_period(
    api, project, start_worker, start_reaper, settings
):
    files = [text_file("small.txt", 1, 20_000), text_file("big.txt", 2, 6_000_000)]
    job_id = create_job(api, project, files)
    worker = start_worker()
    start_reaper(INGEST_CANCEL_GRACE_SECONDS=str(GRACE))
    wait_for(lambda: job_row(job_id).items_done == 1, message="the first file done")
    horse = worker.freeze_horse()  # a step stuck where no checkpoint runs

    assert api.post(job_url(project, job_id, "cancel/")).status_code == 202

    job = wait_for(lambda: finished(job_id), timeout=GRACE + 10, message="escalation")
    assert job.status == JobStatus.CANCELLED
    assert job.events.get(action="cancelled").reason == "stopped after grace period"
    assert job.result["partial"] is True
    small, big = IngestFile.objects.filter(job=job).order_by("position")
    assert (small.status, big.status) == (FileStatus.DONE, FileStatus.PENDING)
    assert Document.objects.filter(job=job).count() == 1
    wait_for(lambda: process_gone(horse), timeout=10, message="the stop command")
    wait_for(lambda: not (settings.INGEST_WORK_DIR / job_id).exists(), message="work dir removed")
    assert_valid_chain(job)
    # The worker itself lives on and takes the next job.
    next_id = create_job(api, project, [text_file("next.txt", 3, 5_000)])
    assert wait_for(lambda: finished(next_id)).status == JobStatus.COMPLETED


def test_killed_worker_is_detected_and_its_job_failed(
    api, project, start_worker, start_reaper, settings
):
    job_id = create_job(api, project, [text_file("big.txt", 4, 6_000_000)])
    worker = start_worker()
    wait_for(lambda: in_status(job_id, JobStatus.RUNNING), message="the job to run")
    wait_for(lambda: (settings.INGEST_WORK_DIR / job_id).exists(), message="its work dir")
    worker.kill()  # SIGKILL, work horse and worker
    start_reaper(INGEST_HEARTBEAT_TIMEOUT_SECONDS=str(HEARTBEAT_TIMEOUT))

    job = wait_for(lambda: finished(job_id), timeout=HEARTBEAT_TIMEOUT + 10, message="reaping")
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("worker lost")
    assert event_chain(job)[-1] == ("worker_lost", "running", "failed")
    wait_for(lambda: not (settings.INGEST_WORK_DIR / job_id).exists(), message="work dir removed")
    body = api.get(job_url(project, job_id)).json()
    assert body["status"] == "failed"
    assert body["error"].startswith("worker lost")


def test_killed_worker_of_a_cancelling_job_ends_cancelled(api, project, start_worker, start_reaper):
    job_id = create_job(api, project, [text_file("big.txt", 5, 6_000_000)])
    worker = start_worker()
    wait_for(lambda: in_status(job_id, JobStatus.RUNNING), message="the job to run")
    worker.freeze_horse()
    assert api.post(job_url(project, job_id, "cancel/")).status_code == 202
    worker.kill()
    # A long grace period: the lost heartbeat, not the escalation, ends it.
    start_reaper(
        INGEST_HEARTBEAT_TIMEOUT_SECONDS=str(HEARTBEAT_TIMEOUT), INGEST_CANCEL_GRACE_SECONDS="600"
    )

    job = wait_for(lambda: finished(job_id), timeout=HEARTBEAT_TIMEOUT + 10, message="reaping")
    assert job.status == JobStatus.CANCELLED
    assert job.events.get(action="cancelled").reason == "worker lost while cancelling"


def test_queued_job_survives_a_flushed_redis(api, project, redis_conn, start_worker, start_reaper):
    job_id = create_job(api, project, [text_file("a.txt", 6, 5_000)])
    redis_conn.flushdb()
    start_worker()
    start_reaper()

    job = wait_for(lambda: finished(job_id), timeout=30, message="the job to be enqueued again")
    assert job.status == JobStatus.COMPLETED
    assert event_chain(job) == [
        ("create", "", "queued"),
        ("start", "queued", "running"),
        ("complete", "running", "completed"),
    ]


@pytest.fixture
def private_redis(settings, tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    settings.REDIS_URL = server.url
    settings.RQ_QUEUES = {"ingest": {**settings.RQ_QUEUES["ingest"], "URL": server.url}}
    yield server
    server.stop()


def test_queued_job_survives_redis_stopping(
    api, project, private_redis, start_worker, start_reaper
):
    job_id = create_job(api, project, [text_file("a.txt", 7, 5_000)])
    private_redis.stop()  # it keeps nothing on disk: the queue is gone with it

    # The job's state lives in the database: still readable, still cancellable.
    assert api.get(job_url(project, job_id)).json()["status"] == "queued"
    private_redis.start()
    start_worker(REDIS_URL=private_redis.url)
    start_reaper(REDIS_URL=private_redis.url)

    job = wait_for(lambda: finished(job_id), timeout=30, message="the job to be enqueued again")
    assert job.status == JobStatus.COMPLETED


def test_readiness_returns_once_a_restarted_redis_is_back(private_redis, start_worker, client):
    # Redis keeps nothing on disk: a restart forgets that the worker exists.
    start_worker(REDIS_URL=private_redis.url)
    wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30, message="a worker")

    private_redis.stop()
    assert client.get("/readyz").json()["checks"]["workers"]["ok"] is False
    private_redis.start()

    # The worker's next heartbeat registers it again (it retries a Redis that
    # is down every few seconds at most, not RQ's minute).
    ready = wait_for(
        lambda: (r := client.get("/readyz")).status_code == 200 and r,
        timeout=20,
        message="/readyz to answer 200 again",
    )
    assert ready.json()["checks"]["workers"] == {"ok": True, "count": 1}


@pytest.mark.parametrize("job_ends", ["after Redis returns", "while Redis is down"])
def test_a_worker_busy_through_a_redis_restart_lives_on_and_finishes(
    api, project, private_redis, start_worker, client, job_ends
):
    worker = start_worker(REDIS_URL=private_redis.url)
    job_id = create_job(api, project, [text_file("a.txt", 8, 6_000_000)])
    wait_for(lambda: job_row(job_id).status == JobStatus.RUNNING, message="the job to start")
    horse = worker.freeze_horse()  # still working when Redis goes away

    private_redis.stop()
    time.sleep(5)  # two of the worker's heartbeats find Redis down
    if job_ends == "while Redis is down":
        os.kill(horse, signal.SIGCONT)
        job = wait_for(lambda: finished(job_id), timeout=60, message="the job to finish")
        time.sleep(3)  # the worker finds Redis down once its horse is gone
        private_redis.start()
    else:
        private_redis.start()
        os.kill(horse, signal.SIGCONT)
        job = wait_for(lambda: finished(job_id), timeout=60, message="the job to finish")

    assert job.status == JobStatus.COMPLETED, worker.output()
    assert worker.proc.poll() is None, worker.output()
    assert "heartbeat skipped, Redis unreachable" in worker.output()
    ready = wait_for(
        lambda: (r := client.get("/readyz")).status_code == 200 and r,
        timeout=20,
        message="/readyz to answer 200 again",
    )
    assert ready.json()["checks"]["workers"] == {"ok": True, "count": 1}
    # The same worker takes the next job from the restarted Redis.
    next_id = create_job(api, project, [text_file("b.txt", 9, 5_000)])
    assert wait_for(lambda: finished(next_id), timeout=30).status == JobStatus.COMPLETED
