"""What a job says of itself (DESIGN.md, "What the representations say"):
the actions it allows now, decided once (``ingest.actions``) and true to the
services; how many files failed; each file's state; and a deleted job's
status before its delete."""

import importlib
import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction

from ingest import actions, representation, results, services
from ingest.agents import tools
from ingest.models import IngestJob
from jobs import lifecycle
from jobs.models import JobStatus
from tests.factories import IngestFileFactory, IngestJobFactory
from tests.ingest.test_pipeline import (
    add_file,
    close_job_state_connection,  # noqa: F401 -- the fixture, used by the pipeline test
    run,
)

pytestmark = pytest.mark.django_db

TERMINAL = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]


def job_with(project, status, file_statuses, **fields):
    job = IngestJobFactory(
        project=project,
        status=status,
        items_total=len(file_statuses),
        items_done=sum(s != "pending" for s in file_statuses),
        items_failed=file_statuses.count("failed"),
        **fields,
    )
    for position, file_status in enumerate(file_statuses):
        IngestFileFactory(job=job, position=position, status=file_status)
    return job


def retry_succeeds(job, user) -> bool:
    """Whether the retry service takes the job, the attempt rolled back."""
    try:
        with transaction.atomic():
            services.job_retry(job=job, actor=user)
            transaction.set_rollback(True)
    except lifecycle.InvalidTransition:
        return False
    return True


@pytest.mark.parametrize(
    ("status", "files", "expected"),
    [
        (JobStatus.QUEUED, ["pending"], ["cancel"]),
        (JobStatus.RUNNING, ["done", "pending"], ["cancel"]),
        (JobStatus.CANCELLING, ["done", "pending"], []),
        (JobStatus.COMPLETED, ["done", "duplicate"], ["cleanup", "delete"]),
        (JobStatus.COMPLETED, ["done", "failed"], ["retry", "cleanup", "delete"]),
        (JobStatus.FAILED, ["failed", "failed"], ["retry", "cleanup", "delete"]),
        (JobStatus.CANCELLED, ["done", "pending"], ["retry", "cleanup", "delete"]),
    ],
)
def test_a_job_allows_what_its_state_allows(project, status, files, expected):
    job = job_with(project, status, files)
    assert actions.job_actions(job) == expected
    assert representation.job(job)["actions"] == expected


def test_retry_is_offered_exactly_when_the_retry_service_would_take_it(user, project):
    """One rule: for every case the service refuses, no retry is offered."""
    cases = {
        "completed, all done": job_with(project, JobStatus.COMPLETED, ["done", "duplicate"]),
        "completed, one failed": job_with(project, JobStatus.COMPLETED, ["done", "failed"]),
        "cancelled part-way": job_with(project, JobStatus.CANCELLED, ["done", "pending"]),
        "running": job_with(project, JobStatus.RUNNING, ["done", "pending"]),
    }
    retried = job_with(project, JobStatus.FAILED, ["failed"])
    services.job_retry(job=retried, actor=user)
    cases["already retried"] = retried
    cleaned = job_with(project, JobStatus.FAILED, ["failed"])
    services.job_cleanup(job=cleaned, actor=user)
    cases["uploads removed by a cleanup"] = cleaned

    offered = {
        name: "retry" in actions.job_actions(IngestJob.objects.get(pk=job.pk))
        for name, job in cases.items()
    }
    taken = {
        name: retry_succeeds(IngestJob.objects.get(pk=job.pk), user) for name, job in cases.items()
    }
    assert offered == taken
    assert offered == {
        "completed, all done": False,
        "completed, one failed": True,
        "cancelled part-way": True,
        "running": False,
        "already retried": False,
        "uploads removed by a cleanup": False,
    }


def test_a_deleted_retry_makes_its_job_retryable_again(user, project):
    failed = job_with(project, JobStatus.FAILED, ["failed"])
    retry = services.job_retry(job=failed, actor=user)
    assert "retry" not in actions.job_actions(IngestJob.objects.get(pk=failed.pk))
    services.job_cancel(job=retry, actor=user)  # queued: cancelled at once
    lifecycle.soft_delete(IngestJob.objects.get(pk=retry.pk))
    assert "retry" in actions.job_actions(IngestJob.objects.get(pk=failed.pk))


def test_a_list_decides_every_rows_actions_without_a_query_per_row(
    user, project, django_assert_max_num_queries
):
    from ingest import selectors

    for _ in range(5):
        job_with(project, JobStatus.FAILED, ["failed"])
    services.job_retry(job=IngestJob.objects.filter(project=project).first(), actor=user)
    with django_assert_max_num_queries(2):
        rows = list(selectors.job_list(project=project))
        answers = [representation.job(job, with_result=False)["actions"] for job in rows]
    assert (
        answers.count(["retry", "cleanup", "delete"]) == 4
    )  # the retry and one retried job lack it


@pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])
def test_files_failed_is_counted_as_the_worker_goes(project):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING, items_total=3)
    add_file(job, "good.txt", b"Words enough to make a document.\n")
    add_file(job, "broken.pdf", b"%PDF-1.4\nnot really a pdf\n")
    add_file(job, "other.txt", b"Other words for another document.\n")
    ctx = run(job)
    row = IngestJob.objects.get(pk=job.pk)
    assert (row.items_done, row.items_failed) == (3, 1)
    assert ctx.job.items_failed == 1
    assert representation.job(row)["progress"]["files_failed"] == 1
    # The finishing UPDATE settles the counters from the files themselves.
    lifecycle.complete(row, result=row.build_result())
    row.refresh_from_db()
    assert row.items_failed == 1


def test_each_file_has_its_state_and_not_reached_only_once_the_job_ended(project):
    job = job_with(project, JobStatus.QUEUED, ["pending", "pending"])
    assert [results.file_state(f) for f in job.result_files()] == ["waiting", "waiting"]

    job = job_with(project, JobStatus.RUNNING, ["done", "pending", "pending"], bytes_done=20)
    files = job.result_files()  # 13 bytes each: 7 read of the second
    assert [results.file_state(f) for f in files] == ["done", "reading", "waiting"]
    assert [results.bytes_read(f) for f in files] == [None, 7, None]

    stored = job.build_result()  # as the worker stores it when the job ends
    assert [f["status"] for f in stored["files"]] == ["done", "not_reached", "not_reached"]

    job = job_with(project, JobStatus.CANCELLED, ["done", "pending"])
    assert [results.file_state(f) for f in job.result_files()] == ["done", "not_reached"]


@pytest.mark.parametrize("before", TERMINAL)
def test_a_deleted_job_says_what_it_was_before_its_delete(user, project, before):
    job = IngestJobFactory(project=project, status=before)
    answer = tools.delete_job(user, project=str(project.pk), job=str(job.pk))
    assert (answer["status"], answer["status_before_delete"]) == ("cancelled", before)
    assert answer["actions"] == []
    deleted = IngestJob.all_objects.get(pk=job.pk)
    assert representation.status_label(deleted) == f"Deleted (had {before})"

    services.job_restore(job=deleted, actor=user)
    restored = IngestJob.all_objects.get(pk=job.pk)
    assert (restored.status, restored.status_before_delete) == (before, "")


def test_the_agents_and_the_commands_say_it_too(user, project):
    job = job_with(project, JobStatus.COMPLETED, ["done", "failed"], name="Half")
    answer = tools.get_job(user, project=project.name, job=str(job.pk))
    assert answer["actions"] == ["retry", "cleanup", "delete"]
    assert answer["progress"]["files_failed"] == 1

    out = io.StringIO()
    call_command("job", str(job.pk), stdout=out)
    assert "1/2 files, 1 failed" in out.getvalue()
    assert "actions      retry, cleanup, delete" in out.getvalue()
    out = io.StringIO()
    lifecycle.soft_delete(job)
    call_command("jobs", project.name, "--deleted", stdout=out)
    assert "deleted (had completed)" in out.getvalue()


def test_existing_jobs_get_their_counts_and_past_status_from_the_migration(user, project):
    migration = importlib.import_module("ingest.migrations.0011_job_actions_and_failed_files")
    failed = job_with(project, JobStatus.COMPLETED, ["done", "failed"])
    cleaned = job_with(project, JobStatus.COMPLETED, ["done"])
    services.job_cleanup(job=cleaned, actor=user)
    deleted = IngestJobFactory(project=project, status=JobStatus.FAILED)
    lifecycle.soft_delete(deleted)
    # As a database from before them would hold them.
    IngestJob.all_objects.update(items_failed=0, status_before_delete="", uploads_removed_at=None)

    migration.fill_in(apps, type("Editor", (), {"connection": connection})())

    rows = {j.pk: j for j in IngestJob.all_objects.all()}
    assert rows[failed.pk].items_failed == 1
    assert rows[deleted.pk].status_before_delete == JobStatus.FAILED
    assert rows[cleaned.pk].uploads_removed_at is not None
    assert rows[failed.pk].uploads_removed_at is None


def test_auditors_read_a_deleted_job_through_the_api_as_what_it_was(user, project, api):
    """The API says it as the admin and the job's page do: to an auditor, a
    deleted job is cancelled, deleted at a time, and what it had been."""
    from tests.conftest import client_for
    from tests.factories import UserFactory

    job = job_with(project, JobStatus.COMPLETED, ["done", "done"], name="Finished")
    url = f"/api/projects/{project.pk}/ingest/jobs/{job.pk}/"
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404  # members: gone

    hedy = UserFactory(username="hedy")
    call_command("grant_auditor", "hedy", stdout=io.StringIO())
    hedy.refresh_from_db()  # staff now
    auditor = client_for(hedy)  # not a member of the project
    response = auditor.get(url)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["status_before_delete"]) == ("cancelled", "completed")
    assert body["deleted_at"] is not None and body["actions"] == []
    assert body["progress"]["files_done"] == 2
    events = auditor.get(f"{url}events/").json()["results"]
    assert [e["action"] for e in events][-1] == "delete"

    # Reading one job is all: no list, no write, no job that does not exist.
    assert auditor.get(f"/api/projects/{project.pk}/ingest/jobs/").status_code == 404
    assert auditor.post(f"{url}retry/").status_code == 404
    assert auditor.delete(url).status_code == 404
    missing = f"/api/projects/{project.pk}/ingest/jobs/{IngestJobFactory.build().pk}/"
    assert auditor.get(missing).status_code == 404
    assert api.get(url).json()["detail"]  # a member still reads the 404's sentence


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_commands_show_failed_files_in_the_warning_colour_on_a_terminal(project, monkeypatch):
    from ingest.client import present
    from ingest.client.present import RESET, WARNING

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    half = job_with(project, JobStatus.COMPLETED, ["done", "failed"], name="Half")
    job_with(project, JobStatus.COMPLETED, ["done", "done"], name="Whole")

    def jobs(stdout) -> dict[str, str]:
        call_command("jobs", project.name, stdout=stdout)
        return {line.split()[1]: line for line in stdout.getvalue().splitlines()[1:]}

    rows = jobs(Terminal())
    assert f"{WARNING}completed" in rows["Half"] and f"{WARNING}1/2 files, 1 failed" in rows["Half"]
    assert "\033[" not in rows["Whole"]
    plain = jobs(io.StringIO())  # a pipe: no colour, and the same columns
    assert {k: v.replace(WARNING, "").replace(RESET, "") for k, v in rows.items()} == plain

    out = Terminal()
    call_command("job", str(half.pk), stdout=out)
    assert f"  status       {WARNING}completed{RESET}\n" in out.getvalue()
    assert f"  progress     {WARNING}1/2 files, 1 failed" in out.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    assert "\033[" not in "".join(jobs(Terminal()).values())
    answer = representation.job(IngestJob.objects.get(pk=half.pk))
    assert present.summary(answer, colour=True)[-1] == (
        f"{WARNING}job 'Half' completed: 1 done, 1 failed; 0 documents created.{RESET}"
    )
