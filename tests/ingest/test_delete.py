"""Soft delete (DESIGN.md, "Soft delete"): hidden everywhere but ``all_objects``
and the admin, audited once, documents kept; restore; concurrent deletes; the
partial index that keeps the list's cost flat as deleted rows pile up."""

import threading
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingest import selectors, services
from ingest.models import Document, IngestJob, Role
from jobs import lifecycle
from jobs.models import JobEvent, JobStatus
from tests.conftest import client_for, is_postgres, member, wait_for
from tests.e2e.helpers import create_job, text_file
from tests.factories import DocumentFactory, IngestFileFactory, IngestJobFactory

CANCEL_FIRST = "cancel the job first, or repeat with ?force=true"


def job_url(project, job_id) -> str:
    return f"/api/projects/{project.pk}/ingest/jobs/{job_id}/"


def deleted(project, **fields) -> IngestJob:
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED, **fields)
    assert lifecycle.soft_delete(job, reason="test")
    return job


# --- hidden everywhere but all_objects -----------------------------------------


@pytest.mark.django_db
def test_deleted_job_is_hidden_from_objects_relations_and_the_api(api, project):
    alive = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    gone = IngestJobFactory(project=project, status=JobStatus.FAILED)
    assert api.delete(job_url(project, gone.pk)).status_code == 204

    assert list(IngestJob.objects.all()) == [alive]
    assert list(project.jobs.all()) == [alive]
    assert set(IngestJob.all_objects.all()) == {alive, gone}
    assert api.get(f"/api/projects/{project.pk}/ingest/jobs/").json()["count"] == 1
    assert api.get(job_url(project, gone.pk)).status_code == 404
    (listed,) = selectors.project_list(user=project.created_by)
    assert listed.finished_jobs == 1


@pytest.mark.django_db
def test_delete_sets_cancelled_and_audits_the_previous_status(api, project, user):
    job = IngestJobFactory(project=project, status=JobStatus.FAILED)
    before = job.version
    assert api.delete(job_url(project, job.pk)).status_code == 204
    job = IngestJob.all_objects.get(pk=job.pk)
    assert (job.status, job.version) == (JobStatus.CANCELLED, before + 1)
    assert job.deleted_at is not None
    event = JobEvent.objects.get(job_id=job.pk)
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        "delete",
        "failed",
        "cancelled",
        user,
    )


@pytest.mark.django_db
def test_deleted_job_keeps_its_documents(api, project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    document = DocumentFactory(project=project, job=job)
    assert api.delete(job_url(project, job.pk)).status_code == 204
    assert Document.objects.get(pk=document.pk).job_id == job.pk
    assert api.get(f"/api/projects/{project.pk}/documents/").json()["count"] == 1


@pytest.mark.django_db
def test_queryset_delete_soft_deletes_finished_jobs_only(project):
    done = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    running = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    count, _ = IngestJob.objects.filter(project=project).delete()
    assert count == 1
    assert set(IngestJob.objects.all()) == {running}
    assert IngestJob.all_objects.get(pk=done.pk).deleted_at is not None
    assert JobEvent.objects.filter(action="delete").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["queued", "running", "cancelling"])
def test_delete_of_an_active_job_is_refused_with_the_way_out(api, project, state):
    job = IngestJobFactory(project=project, status=state)
    response = api.delete(job_url(project, job.pk))
    assert response.status_code == 409
    assert CANCEL_FIRST in response.json()["detail"]


@pytest.mark.django_db
def test_delete_of_a_deleted_unknown_or_foreign_job_is_404(api, project):
    gone = deleted(project)
    foreign = IngestJobFactory(status=JobStatus.COMPLETED)
    for job_id in (gone.pk, foreign.pk, "00000000-0000-0000-0000-000000000000", "x"):
        response = api.delete(job_url(project, job_id))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert IngestJob.objects.filter(pk=foreign.pk).exists()


@pytest.mark.django_db
def test_delete_by_a_viewer_is_403_and_with_a_stale_etag_412(api, project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    viewer = client_for(member(project, Role.VIEWER))
    assert viewer.delete(job_url(project, job.pk)).status_code == 403
    stale = api.delete(job_url(project, job.pk), headers={"If-Match": 'W/"7"'})
    assert stale.status_code == 412
    assert IngestJob.objects.filter(pk=job.pk).exists()


# --- restore -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["completed", "failed", "cancelled"])
def test_restore_brings_back_the_status_before_deletion(api, project, user, state):
    job = IngestJobFactory(project=project, status=state)
    IngestFileFactory(job=job)
    services.job_delete(job=job, actor=user)
    outcome = services.job_restore(job=job, actor=user, reason="deleted by mistake")
    assert (outcome.from_status, outcome.to_status) == ("cancelled", state)
    job.refresh_from_db()
    assert (job.status, job.deleted_at, job.delete_requested_at) == (state, None, None)
    assert api.get(job_url(project, job.pk)).json()["status"] == state
    event = lifecycle.events_for(job).last()
    assert (event.action, event.from_status, event.to_status, event.reason) == (
        "restore",
        "cancelled",
        state,
        "deleted by mistake",
    )


@pytest.mark.django_db
def test_restore_of_a_force_deleted_job_gives_back_cancelled(project):
    job = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    services.job_delete(job=job, force=True)
    lifecycle.finish_cancelled(job, result={})
    assert IngestJob.all_objects.get(pk=job.pk).deleted_at is not None
    assert services.job_restore(job=job).to_status == JobStatus.CANCELLED
    job.refresh_from_db()
    assert (job.deleted_at, job.delete_requested_at) == (None, None)


@pytest.mark.django_db
def test_restore_is_refused_for_an_alive_job(project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    with pytest.raises(lifecycle.InvalidTransition, match="not deleted"):
        services.job_restore(job=job)


@pytest.mark.django_db
def test_restore_is_refused_once_the_files_were_removed(project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    upload = IngestFileFactory(job=job, name="gone.txt")
    services.job_delete(job=job)
    default_storage.delete(upload.storage_path)
    with pytest.raises(lifecycle.InvalidTransition, match=r"gone\.txt"):
        services.job_restore(job=job)
    assert IngestJob.all_objects.get(pk=job.pk).deleted_at is not None


@pytest.mark.django_db
def test_a_restored_job_can_be_deleted_again(api, project):
    job = deleted(project)
    services.job_restore(job=job)
    assert api.delete(job_url(project, job.pk)).status_code == 204
    actions = list(lifecycle.events_for(job).values_list("action", flat=True))
    assert actions == ["delete", "restore", "delete"]


# --- races -----------------------------------------------------------------------


def test_concurrent_deletes_have_exactly_one_winner(transactional_db, project, user):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    clients = [client_for(user) for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    codes = []

    def delete(client):
        try:
            barrier.wait(timeout=10)
            codes.append(client.delete(job_url(project, job.pk)).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=delete, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(codes) == [204] + [404] * 7
    assert JobEvent.objects.filter(job_id=job.pk, action="delete").count() == 1
    assert IngestJob.all_objects.get(pk=job.pk).version == job.version + 1


@pytest.mark.e2e
def test_force_delete_of_a_running_job_ends_deleted(api, project, start_worker, settings):
    files = [text_file(f"part{n}.txt", n, 1_500_000) for n in range(10)]
    job_id = create_job(api, project, files)
    start_worker()
    wait_for(lambda: IngestJob.all_objects.get(pk=job_id).items_done >= 1, message="a file done")

    response = api.delete(f"{job_url(project, job_id)}?force=true")

    assert response.status_code == 202
    assert response.json()["delete_requested_at"] is not None
    job = wait_for(
        lambda: IngestJob.all_objects.filter(pk=job_id, deleted_at__isnull=False).first(),
        message="the job to end deleted",
    )
    assert job.status == JobStatus.CANCELLED
    assert api.get(job_url(project, job_id)).status_code == 404
    actions = [e.action for e in lifecycle.events_for(job)]
    assert actions[-3:] == ["cancel", "cancelled", "delete"]
    # The files it finished stay as the project's documents.
    assert Document.objects.filter(job=job).count() >= 1
    assert not (settings.INGEST_WORK_DIR / job_id).exists()


# --- the partial index -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.skipif(not is_postgres(), reason="the partial index is PostgreSQL's")
def test_the_list_uses_the_partial_index_when_deleted_rows_abound(project):
    now = timezone.now()
    rows = [
        IngestJob(
            project=project,
            name=f"job {n}",
            chunk_size=200,
            chunk_overlap=20,
            status=JobStatus.CANCELLED,
            created_at=now - timedelta(seconds=n),
            deleted_at=now if n % 50 else None,
        )
        for n in range(20_000)
    ]
    IngestJob.all_objects.bulk_create(rows, batch_size=5_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ingest_ingestjob")
    first_page = selectors.job_list(project=project).queryset()[:25]
    assert len(first_page) == 25
    assert "ingestjob_alive_list" in first_page.explain()
    assert "ingestjob_alive_list" in selectors.job_list(project=project).queryset().explain()
    # The list's count and first page, as the prepared queries send them.
    pages = selectors.job_list(project=project)
    with CaptureQueriesContext(connection) as sent:
        assert pages.count() == 400
        assert len(pages[0:25]) == 25
    for query in sent.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + query["sql"])
            plan = " ".join(row[0] for row in cursor.fetchall())
        assert "ingestjob_alive_list" in plan, (query["sql"], plan)
