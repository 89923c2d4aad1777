"""Graceful shutdown and resume: SIGTERM to a worker puts its job back with
its finished files kept, and the next worker does only the rest."""

import re
import signal

import pytest

from ingest.models import DocumentSource, FileStatus, IngestFile
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

pytestmark = [pytest.mark.e2e]
FILE_LINE = re.compile(r"msg=\"file (\d+) \S+: done")


def files_done_in(log: str) -> list[int]:
    return [int(position) for position in FILE_LINE.findall(log)]


def test_sigterm_requeues_and_the_next_worker_finishes_each_file_once(
    api, project, start_worker, start_reaper
):
    count = 8
    files = [text_file(f"part{n}.txt", 50 + n, 1_500_000) for n in range(count)]
    job_id = create_job(api, project, files)
    first = start_worker()
    wait_for(lambda: job_row(job_id).items_done >= 2, message="two files done")

    first.proc.send_signal(signal.SIGTERM)

    assert first.proc.wait(30) == 0
    job = wait_for(lambda: in_status(job_id, JobStatus.QUEUED), message="the job requeued")
    kept = IngestFile.objects.filter(job=job, status=FileStatus.DONE).count()
    assert 2 <= kept < count
    assert event_chain(job)[-1] == ("requeue", "running", "queued")
    assert job.events.last().reason == "worker shut down; finished files kept"

    second = start_worker()
    start_reaper()  # it puts the requeued job back on the RQ queue
    job = wait_for(lambda: finished(job_id), timeout=60, message="the second worker")

    assert job.status == JobStatus.COMPLETED
    assert [a for a, _, _ in event_chain(job)].count("start") == 2
    assert_valid_chain(job)
    body = api.get(job_url(project, job_id)).json()
    assert [f["name"] for f in body["result"]["files"]] == [f"part{n}.txt" for n in range(count)]
    assert {f["status"] for f in body["result"]["files"]} == {"done"}
    assert body["progress"]["files_done"] == count
    for ingest_file in IngestFile.objects.filter(job=job):
        assert DocumentSource.objects.filter(file=ingest_file).count() == 1
    # Every file was written by exactly one of the two workers.
    by_first, by_second = files_done_in(first.output()), files_done_in(second.output())
    assert len(by_first) == kept
    assert sorted(by_first + by_second) == list(range(count))


def test_a_cancel_while_requeued_still_wins(api, project, start_worker):
    files = [text_file(f"part{n}.txt", 70 + n, 1_500_000) for n in range(6)]
    job_id = create_job(api, project, files)
    worker = start_worker()
    wait_for(lambda: job_row(job_id).items_done >= 1, message="a file done")
    worker.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: in_status(job_id, JobStatus.QUEUED), message="the job requeued")

    response = api.post(job_url(project, job_id, "cancel/"))

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert event_chain(job_row(job_id))[-2:] == [
        ("requeue", "running", "queued"),
        ("cancel", "queued", "cancelled"),
    ]
