"""POST .../retry/: a new job with only the unfinished files, from the stored
uploads; refusals in words; both audit trails; one live retry at a time."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from ingest import services
from ingest.models import FileMember, FileStatus, IngestFile, IngestJob
from jobs import lifecycle
from jobs.models import JobStatus
from tests.conftest import client_for, member
from tests.e2e.helpers import text_file
from tests.factories import UserFactory, member_results

pytestmark = pytest.mark.django_db


def jobs_url(project) -> str:
    return f"/api/projects/{project.pk}/ingest/jobs/"


def retry_url(project, job) -> str:
    return f"{jobs_url(project)}{job.pk}/retry/"


def make_job(api, project, count=3) -> IngestJob:
    files = [text_file(f"f{n}.txt", n, 1_000 + n) for n in range(count)]
    response = api.post(jobs_url(project), {"files": files}, format="multipart")
    assert response.status_code == 201, response.json()
    return IngestJob.objects.get(pk=response.json()["id"])


def end(job, *done_positions, failed=(), status=JobStatus.FAILED) -> IngestJob:
    """Finish ``job`` as a worker would have: some files done, some failed."""
    IngestFile.objects.filter(job=job, position__in=done_positions).update(status=FileStatus.DONE)
    IngestFile.objects.filter(job=job, position__in=failed).update(
        status=FileStatus.FAILED, error="broken"
    )
    lifecycle.start(job, worker_host="test")
    if status == JobStatus.FAILED:
        lifecycle.fail(job, error="every file failed", result={})
    elif status == JobStatus.COMPLETED:
        lifecycle.complete(job, result={})
    else:
        lifecycle.request_cancel(job)
        lifecycle.finish_cancelled(job, result={})
    job.refresh_from_db()
    return job


def read(ingest_file) -> bytes:
    with default_storage.open(ingest_file.storage_path, "rb") as handle:
        return handle.read()


def test_retry_takes_only_the_unfinished_files_from_the_stored_uploads(api, project):
    job = end(make_job(api, project), 0, failed=[2], status=JobStatus.CANCELLED)

    response = api.post(retry_url(project, job))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert response["Location"] == body["url"]
    assert body["retry_of"] == str(job.pk)
    assert body["status"] == "queued"
    assert body["name"] == f"Retry of {job.name}"
    retry = IngestJob.objects.get(pk=body["id"])
    originals = {f.name: f for f in job.files.all()}
    copies = list(retry.files.order_by("position"))
    assert [f.name for f in copies] == ["f1.txt", "f2.txt"]
    assert all(f.status == FileStatus.PENDING for f in copies)
    for copy in copies:
        assert read(copy) == read(originals[copy.name])
        assert copy.storage_path != originals[copy.name].storage_path
        assert copy.sha256 == originals[copy.name].sha256
    assert (retry.items_total, retry.bytes_total) == (2, 1_001 + 1_002)
    assert (retry.chunk_size, retry.chunk_overlap) == (job.chunk_size, job.chunk_overlap)
    assert api.get(f"{jobs_url(project)}{job.pk}/").json()["retries"] == [str(retry.pk)]


def test_both_audit_trails_record_the_retry(api, project, user):
    job = end(make_job(api, project), 0)

    retry_id = api.post(retry_url(project, job)).json()["id"]

    old_event = lifecycle.events_for(job).get(action="retry")
    assert (old_event.actor, old_event.reason) == (user, f"retried as job {retry_id}")
    assert (old_event.from_status, old_event.to_status) == ("failed", "failed")
    new_event = lifecycle.events_for(IngestJob.objects.get(pk=retry_id)).get()
    assert (new_event.action, new_event.actor) == ("create", user)
    assert new_event.reason == f"retry of job {job.pk}"


def test_a_partly_written_zip_keeps_its_written_members(api, project):
    job = end(make_job(api, project, count=1), status=JobStatus.CANCELLED)
    members = [
        {"name": "a.txt", "status": "done", "document": None, "chunks": 2, "error": None},
        {"name": "b.txt", "status": "duplicate", "document": None, "chunks": 1, "error": None},
        {"name": "c.bin", "status": "failed", "document": None, "chunks": 0, "error": "x"},
    ]
    IngestFile.objects.filter(job=job).update(kind="zip")
    zipped = IngestFile.objects.get(job=job)
    for position, result in enumerate(members):
        FileMember.objects.create(file=zipped, position=position, **{**result, "error": ""})

    retry = IngestJob.objects.get(pk=api.post(retry_url(project, job)).json()["id"])

    (copy,) = retry.files.all()
    assert [m["name"] for m in member_results(copy)] == ["a.txt", "b.txt"]  # the failed is retried
    assert copy.members_count == 2


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING])
def test_retry_refuses_an_active_job(api, project, status):
    job = make_job(api, project)
    if status != JobStatus.QUEUED:
        lifecycle.start(job, worker_host="test")
    if status == JobStatus.CANCELLING:
        lifecycle.request_cancel(job)

    response = api.post(retry_url(project, job))

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"job is {status}: wait until it finishes, or cancel it, then retry.",
        "code": "invalid_state",
    }
    assert IngestJob.objects.count() == 1


def test_retry_refuses_a_job_whose_uploads_were_cleaned_up(api, project):
    job = end(make_job(api, project), 0)
    services.job_cleanup(job=job)

    response = api.post(retry_url(project, job))

    assert response.status_code == 409
    assert "its uploads were removed by a cleanup (f1.txt, f2.txt)" in response.json()["detail"]
    assert "upload the files again" in response.json()["detail"]


def test_retry_refuses_a_job_with_nothing_left_to_do(api, project):
    job = end(make_job(api, project), 0, 1, 2, status=JobStatus.COMPLETED)

    response = api.post(retry_url(project, job))

    assert response.status_code == 409
    assert response.json()["detail"] == "nothing to retry: every file of this job is done."


def test_a_completed_job_with_failed_files_can_be_retried(api, project):
    job = end(make_job(api, project), 0, 1, failed=[2], status=JobStatus.COMPLETED)

    response = api.post(retry_url(project, job))

    assert response.status_code == 201
    assert [f["name"] for f in response.json()["result"]["files"]] == ["f2.txt"]


def test_a_second_retry_names_the_one_still_active(api, project):
    job = end(make_job(api, project), 0)
    first = api.post(retry_url(project, job)).json()["id"]

    again = api.post(retry_url(project, job))

    assert again.status_code == 409
    assert again.json()["detail"] == f"job {first} is already retrying it (queued)."


def test_a_second_retry_names_the_one_that_finished_everything(api, project):
    job = end(make_job(api, project), 0)
    first = IngestJob.objects.get(pk=api.post(retry_url(project, job)).json()["id"])
    end(first, 0, 1, status=JobStatus.COMPLETED)

    again = api.post(retry_url(project, job))

    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"job {first.pk} already retried it and finished every file; nothing is left to retry."
    )


def test_only_the_newest_job_of_a_chain_is_retried(api, project):
    job = end(make_job(api, project), 0)  # f1, f2 unfinished
    first = IngestJob.objects.get(pk=api.post(retry_url(project, job)).json()["id"])
    end(first, 0, status=JobStatus.CANCELLED)  # f1 done, f2 not reached

    refused = api.post(retry_url(project, job))
    again = api.post(retry_url(project, first))

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"job {first.pk} retried it and ended cancelled: retry that job, "
        "the newest of the chain, to take what is left."
    )
    assert again.status_code == 201
    assert again.json()["retry_of"] == str(first.pk)
    assert [f["name"] for f in again.json()["result"]["files"]] == ["f2.txt"]
    assert api.get(f"{jobs_url(project)}{job.pk}/").json()["retries"] == [str(first.pk)]
    assert api.get(f"{jobs_url(project)}{first.pk}/").json()["retries"] == [again.json()["id"]]


def test_a_chain_of_retries_never_forks(api, project):
    job = end(make_job(api, project), 0)
    first = IngestJob.objects.get(pk=api.post(retry_url(project, job)).json()["id"])
    end(first, status=JobStatus.FAILED)

    answers = [api.post(retry_url(project, j)).status_code for j in (job, first, job, first)]

    assert answers == [409, 201, 409, 409]
    assert IngestJob.objects.filter(status=JobStatus.QUEUED).count() == 1


def test_a_deleted_retry_is_not_restored_once_its_job_was_retried_again(api, project):
    job = end(make_job(api, project), 0)
    first = IngestJob.objects.get(pk=api.post(retry_url(project, job)).json()["id"])
    end(first, status=JobStatus.FAILED)
    services.job_delete(job=first)  # a deleted retry is no one's attempt: job is retried again
    second = api.post(retry_url(project, job)).json()["id"]
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))

    with pytest.raises(lifecycle.InvalidTransition) as refused:
        services.job_restore(job=IngestJob.all_objects.get(pk=first.pk))
    page = admin.post(
        reverse("admin:ingest_ingestjob_changelist"),
        {"action": "restore_jobs", "_selected_action": [str(first.pk)]},
        follow=True,
    ).content.decode()

    assert str(refused.value) == (
        f"job {job.pk} was retried again as job {second} after this one was deleted; "
        "restoring this one would retry the same files twice."
    )
    assert f"was retried again as job {second}" in page
    assert IngestJob.all_objects.get(pk=first.pk).deleted_at is not None
    assert api.get(f"{jobs_url(project)}{job.pk}/").json()["retries"] == [second]


def test_a_deleted_retry_is_restored_while_its_job_has_no_other(api, project):
    job = end(make_job(api, project), 0)
    first = IngestJob.objects.get(pk=api.post(retry_url(project, job)).json()["id"])
    end(first, status=JobStatus.FAILED)
    services.job_delete(job=first)

    outcome = services.job_restore(job=IngestJob.all_objects.get(pk=first.pk))

    assert outcome.to_status == JobStatus.FAILED
    assert api.get(f"{jobs_url(project)}{job.pk}/").json()["retries"] == [str(first.pk)]


def chain(api, project, length: int) -> list[IngestJob]:
    """A job and ``length`` retries of it, each retrying the one before and
    failing, so that each leaves a file to retry."""
    jobs = [end(make_job(api, project), 0)]
    for _ in range(length):
        response = api.post(retry_url(project, jobs[-1]))
        assert response.status_code == 201, response.json()
        jobs.append(end(IngestJob.objects.get(pk=response.json()["id"]), status=JobStatus.FAILED))
    return jobs


def offers_retry(api, project, job) -> bool:
    return "retry" in api.get(f"{jobs_url(project)}{job.pk}/").json()["actions"]


def test_deleting_the_middle_of_a_chain_leaves_its_newest_job_the_one_to_retry(api, project):
    job, middle, newest = chain(api, project, 2)
    services.job_delete(job=middle)

    refused = api.post(retry_url(project, job))
    listed = {row["id"]: row["actions"] for row in api.get(jobs_url(project)).json()["results"]}

    assert refused.status_code == 409
    assert refused.json()["detail"].startswith(f"job {newest.pk} retried it and ended failed")
    assert "retry" not in listed[str(job.pk)] and "retry" in listed[str(newest.pk)]
    assert (offers_retry(api, project, job), offers_retry(api, project, newest)) == (False, True)
    assert api.post(retry_url(project, newest)).status_code == 201
    assert IngestJob.objects.filter(status=JobStatus.QUEUED).count() == 1


def test_a_chain_whose_retries_are_all_deleted_starts_again_from_its_job(api, project):
    job, middle, newest = chain(api, project, 2)
    services.job_delete(job=newest)
    services.job_delete(job=middle)
    assert offers_retry(api, project, job)

    again = IngestJob.objects.get(pk=api.post(retry_url(project, job)).json()["id"])

    for gone in (middle, newest):  # either back would make two live retries of one job
        with pytest.raises(lifecycle.InvalidTransition, match=f"as job {again.pk} after"):
            services.job_restore(job=IngestJob.all_objects.get(pk=gone.pk))
    services.job_delete(job=end(again, status=JobStatus.FAILED))
    services.job_restore(job=IngestJob.all_objects.get(pk=middle.pk))  # its line is free again
    services.job_restore(job=IngestJob.all_objects.get(pk=newest.pk))  # and so is its retry's
    assert (offers_retry(api, project, middle), offers_retry(api, project, newest)) == (False, True)


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_the_retries_already_made_their_chain(api, project):
    executor = MigrationExecutor(connection)
    before = [("ingest", "0012_auditors_view_file_members")]
    after = executor.loader.graph.leaf_nodes("ingest")
    job, first, second = chain(api, project, 2)
    other = make_job(api, project)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps.get_model("ingest", "IngestJob")
        assert old._base_manager.filter(pk=first.pk).exists()  # no chain column before
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(after)

    rows = dict(IngestJob.all_objects.values_list("pk", "chain"))
    assert rows == {job.pk: job.pk, first.pk: job.pk, second.pk: job.pk, other.pk: None}


def test_viewers_get_403_and_non_members_404(api, project):
    job = end(make_job(api, project), 0)
    viewer = client_for(member(project, "viewer"))
    stranger = client_for(UserFactory())

    assert viewer.post(retry_url(project, job)).status_code == 403
    assert stranger.post(retry_url(project, job)).status_code == 404
    assert api.post(f"{jobs_url(project)}not-a-uuid/retry/").status_code == 404
    assert IngestJob.objects.count() == 1


def test_a_deleted_job_cannot_be_retried(api, project):
    job = end(make_job(api, project), 0)
    services.job_delete(job=job)

    assert api.post(retry_url(project, job)).status_code == 404


def test_the_retry_command_retries_and_refuses_in_words(api, project, user, capsys):
    job = end(make_job(api, project), 0)

    call_command("retry_job", str(job.pk), "--user", user.username, "--no-wait")
    with pytest.raises(CommandError) as refused:
        call_command("retry_job", str(job.pk), "--user", user.username, "--no-wait")

    retry = IngestJob.objects.get(retry_of=job)
    assert f"job {retry.pk} created to retry 2 file(s) of job {job.pk}." in capsys.readouterr().out
    assert str(refused.value) == f"job {retry.pk} is already retrying it (queued)."


def test_the_retry_command_refuses_a_viewer(api, project):
    job = end(make_job(api, project), 0)
    viewer = member(project, "viewer")

    with pytest.raises(CommandError, match="is a viewer of project"):
        call_command("retry_job", str(job.pk), "--user", viewer.username, "--no-wait")
    assert not IngestJob.objects.filter(retry_of=job).exists()


# --- the dashboard ---------------------------------------------------------------

HTMX = {"HTTP_HX_REQUEST": "true"}


def dashboard(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_url(name, project, job) -> str:
    return reverse(f"ingest:{name}", kwargs={"project_id": project.pk, "job_id": job.pk})


def test_the_dashboard_retries_and_links_both_jobs(api, project, user):
    job = end(make_job(api, project), 0)
    client = dashboard(user)
    before = client.get(page_url("job-detail", project, job)).content.decode()

    response = client.post(page_url("job-retry", project, job), **HTMX)

    assert 'aria-label="Retry ' in before and 'id="retry-dialog"' in before
    assert response.status_code == 200
    retry = IngestJob.objects.get(retry_of=job)
    assert json.loads(response["HX-Trigger"]) == {
        "ingest:done": {"job": str(job.pk), "action": "retry"}
    }
    assert (
        f"Job “Retry of {job.name}” created to retry 2 files; it is queued."
        in response.content.decode()
    )
    old_page = client.get(page_url("job-detail", project, job)).content.decode()
    new_page = client.get(page_url("job-detail", project, retry)).content.decode()
    assert f'href="{page_url("job-detail", project, retry)}" data-retried-as' in old_page
    assert f'href="{page_url("job-detail", project, job)}" data-retry-of' in new_page


def test_the_dashboard_refuses_a_second_retry_and_a_viewer(api, project, user):
    job = end(make_job(api, project), 0)
    client = dashboard(user)
    client.post(page_url("job-retry", project, job), **HTMX)

    again = client.post(page_url("job-retry", project, job), **HTMX)
    viewer = dashboard(member(project, "viewer")).post(page_url("job-retry", project, job), **HTMX)

    assert again.status_code == 409
    assert (
        again.content.decode().startswith("Job ")
        and "is already retrying it" in again.content.decode()
    )
    assert viewer.status_code == 403
    assert IngestJob.objects.filter(retry_of=job).count() == 1


def test_no_retry_button_on_an_active_or_fully_done_job(api, project, user):
    active = make_job(api, project)
    complete = end(make_job(api, project), 0, 1, 2, status=JobStatus.COMPLETED)
    client = dashboard(user)

    for job in (active, complete):
        html = client.get(page_url("job-detail", project, job)).content.decode()
        assert f'aria-label="Retry {job.name}"' not in html


@pytest.mark.django_db(transaction=True)
def test_retries_of_one_chain_at_once_make_one_job(api, project, user):
    job, middle, newest = chain(api, project, 2)
    services.job_delete(job=middle)  # both ends look retryable to a reader without the lock
    start = threading.Barrier(4)

    def retry(target):
        start.wait()
        try:
            services.job_retry(job=target, actor=user)
            return "created"
        except lifecycle.InvalidTransition:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(retry, [job, newest, job, newest]))

    assert sorted(answers) == ["created", "refused", "refused", "refused"]
    assert IngestJob.objects.filter(status=JobStatus.QUEUED).count() == 1
