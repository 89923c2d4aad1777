"""Live events on Redis pub/sub: best effort, never in the way of a job."""

import json

import pytest

from jobs import lifecycle
from jobs.models import JobStatus
from tests.conftest import wait_for
from tests.e2e.helpers import create_job, finished, text_file
from tests.factories import IngestJobFactory


def test_transition_wins_and_is_audited_with_redis_down(dead_redis, transactional_db):
    job = IngestJobFactory(status=JobStatus.RUNNING)

    outcome = lifecycle.request_cancel(job, reason="redis is down")

    assert outcome.to_status == JobStatus.CANCELLING
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLING
    assert job.events.get().action == "cancel"


@pytest.mark.e2e
def test_every_transition_and_progress_step_is_published(api, project, redis_conn, start_worker):
    subscriber = redis_conn.pubsub()
    subscriber.subscribe(f"ingest:project:{project.pk}")
    job_id = create_job(api, project, [text_file(f"p{n}.txt", n, 300_000) for n in range(3)])
    start_worker()
    wait_for(lambda: finished(job_id), message="the job to finish")

    messages = []
    while message := subscriber.get_message(timeout=1):
        if message["type"] == "message":
            messages.append(json.loads(message["data"]))
    subscriber.close()

    ours = [m for m in messages if m["job"] == job_id]
    transitions = [(m["action"], m["status"]) for m in ours if m["type"] == "transition"]
    assert transitions == [("create", "queued"), ("start", "running"), ("complete", "completed")]
    progress = [m for m in ours if m["type"] == "progress"]
    assert progress, ours
    assert [m["items_done"] for m in progress] == sorted(m["items_done"] for m in progress)
    assert progress[-1]["items_done"] == progress[-1]["items_total"] == 3
    assert progress[-1]["percent"] == 100
