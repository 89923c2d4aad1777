"""Operators' commands: cancel_job asks before it cancels."""

import io

import pytest
from django.core.management import CommandError, call_command

from jobs.models import JobStatus
from tests.factories import IngestJobFactory

pytestmark = pytest.mark.django_db


def cancel_job(*args, answer=None, monkeypatch=None):
    if answer is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    out = io.StringIO()
    call_command("cancel_job", *args, stdout=out)
    return out.getvalue()


def test_cancel_job_asks_and_cancels_on_yes(monkeypatch):
    job = IngestJobFactory(status=JobStatus.RUNNING, name="nightly", items_total=4, items_done=1)

    out = cancel_job(str(job.pk), "--reason", "bad batch", answer="y\n", monkeypatch=monkeypatch)

    assert "'nightly'" in out and "1 of 4 files" in out and job.project.name in out
    assert "is cancelling" in out
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLING
    assert job.events.get().reason == "bad batch"


@pytest.mark.parametrize("answer", ["n\n", "\n", ""])
def test_cancel_job_cancels_nothing_without_a_yes(monkeypatch, answer):
    job = IngestJobFactory(status=JobStatus.RUNNING)

    with pytest.raises(CommandError, match="nothing was cancelled"):
        cancel_job(str(job.pk), answer=answer, monkeypatch=monkeypatch)

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert not job.events.exists()


def test_cancel_job_with_yes_cancels_a_queued_job_at_once():
    job = IngestJobFactory(status=JobStatus.QUEUED)

    out = cancel_job(str(job.pk), "--yes")

    assert "cancelled; it had not started" in out
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


@pytest.mark.parametrize("job_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_cancel_job_refuses_unknown_jobs(job_id):
    with pytest.raises(CommandError, match=r"no job .* exists"):
        cancel_job(job_id, "--yes")


def test_cancel_job_refuses_a_finished_job_naming_its_state():
    job = IngestJobFactory(status=JobStatus.COMPLETED)

    with pytest.raises(CommandError, match="job already completed; nothing to cancel"):
        cancel_job(str(job.pk), "--yes")
