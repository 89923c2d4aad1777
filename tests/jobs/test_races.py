"""Cancel against completion, started at the same instant on two connections,
many times over: the guarded UPDATEs leave exactly one winner, and a cancel
that was accepted is never followed by COMPLETED."""

import threading

import pytest
from django.db import connections

from ingest.models import IngestJob
from jobs import lifecycle
from jobs.lifecycle import InvalidTransition
from jobs.models import JobStatus
from tests.conftest import BOTH_DATABASES
from tests.factories import IngestJobFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES)
ROUNDS = 40


def race(job_id) -> dict:
    """Worker finishing (on the job-state alias, as the runner does) against a user's cancel."""
    barrier = threading.Barrier(2)
    outcome = {}

    def worker():
        job = IngestJob.all_objects.using("jobstate").get(pk=job_id)
        barrier.wait(5)
        outcome["worker"] = lifecycle.complete(job, result={"files": []}, using="jobstate")

    def user():
        job = IngestJob.objects.get(pk=job_id)
        barrier.wait(5)
        try:
            outcome["cancel"] = lifecycle.request_cancel(job, reason="race")
        except InvalidTransition as exc:
            outcome["cancel"] = exc

    threads = [threading.Thread(target=close_after(f)) for f in (worker, user)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcome


def close_after(function):
    def run():
        try:
            function()
        finally:
            connections.close_all()

    return run


def test_cancel_racing_completion_has_exactly_one_consistent_ending():
    for _ in range(ROUNDS):
        job = IngestJobFactory(status=JobStatus.RUNNING)

        outcome = race(job.pk)

        job.refresh_from_db()
        cancel = outcome["cancel"]
        if isinstance(cancel, InvalidTransition):
            # Completion won: the cancel was refused, naming the state.
            assert job.status == JobStatus.COMPLETED
            assert cancel.message == "job already completed; nothing to cancel."
        else:
            # The cancel was accepted (202): the worker's completion lost and
            # ended the job CANCELLED, its results kept.
            assert cancel.to_status == JobStatus.CANCELLING
            assert job.status == JobStatus.CANCELLED
            assert job.result["partial"] is True
        chain = [(e.from_status, e.to_status) for e in job.events.order_by("at", "id")]
        assert chain in (
            [("running", "completed")],
            [("running", "cancelling"), ("cancelling", "cancelled")],
        )
