"""The job model's managers (soft delete), bulk delete, purge, percent and etag."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from ingest.models import Document, IngestFile, IngestJob, Project
from jobs import lifecycle
from jobs.models import Job, JobEvent
from jobs.models import JobStatus as S
from tests.factories import DocumentFactory, IngestFileFactory, IngestJobFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def deleted_job(**kwargs):
    job = IngestJobFactory(status=S.COMPLETED, **kwargs)
    assert lifecycle.soft_delete(job)
    return job


# --- managers -------------------------------------------------------------------


def test_default_manager_hides_deleted_jobs():
    alive = IngestJobFactory(status=S.COMPLETED)
    gone = deleted_job()

    assert list(IngestJob.objects.all()) == [alive]
    assert not IngestJob.objects.filter(pk=gone.pk).exists()
    with pytest.raises(IngestJob.DoesNotExist):
        IngestJob.objects.get(pk=gone.pk)


def test_all_objects_shows_deleted_jobs():
    alive = IngestJobFactory(status=S.COMPLETED)
    gone = deleted_job()

    assert set(IngestJob.all_objects.all()) == {alive, gone}
    assert list(IngestJob.all_objects.deleted()) == [gone]
    assert list(IngestJob.all_objects.alive()) == [alive]
    assert IngestJob.all_objects.get(pk=gone.pk).is_deleted


def test_active_and_terminal_querysets_split_by_status():
    active = {IngestJobFactory(status=s) for s in (S.QUEUED, S.RUNNING, S.CANCELLING)}
    terminal = {IngestJobFactory(status=s) for s in (S.COMPLETED, S.FAILED, S.CANCELLED)}

    assert set(IngestJob.objects.active()) == active
    assert set(IngestJob.objects.terminal()) == terminal
    assert all(j.is_active and not j.is_terminal for j in active)
    assert all(j.is_terminal and not j.is_active for j in terminal)


def test_default_and_base_managers_are_the_intended_ones():
    assert IngestJob._default_manager is IngestJob.objects
    assert IngestJob._base_manager.name == "all_objects"


def test_file_of_deleted_job_still_reaches_its_job():
    """Related lookups go through the base manager: the worker and admin reach it."""
    job = IngestJobFactory(status=S.COMPLETED)
    ingest_file = IngestFileFactory(job=job)
    lifecycle.soft_delete(job)

    fresh_file = IngestFile.objects.get(pk=ingest_file.pk)

    assert fresh_file.job.pk == job.pk
    assert fresh_file.job.is_deleted


def test_document_of_deleted_job_stays_and_reaches_its_job():
    job = IngestJobFactory(status=S.COMPLETED)
    document = DocumentFactory(project=job.project, job=job)
    lifecycle.soft_delete(job)

    fresh = Document.objects.select_related("job").get(pk=document.pk)

    assert fresh.job.pk == job.pk
    assert Document.objects.get(pk=document.pk).job.pk == job.pk


def test_project_jobs_relation_hides_deleted_jobs():
    """DESIGN: deleted rows vanish from every list, the reverse relation included."""
    project = ProjectFactory()
    alive = IngestJobFactory(project=project, status=S.COMPLETED)
    deleted_job(project=project)

    assert list(project.jobs.all()) == [alive]
    assert project.jobs.count() == 1
    prefetched = Project.objects.prefetch_related("jobs").get(pk=project.pk)
    assert list(prefetched.jobs.all()) == [alive]


def test_jobs_of_projects_filter_through_relation_sees_every_row():
    """A filter across the relation is a join, not a manager: callers add the
    deleted_at condition themselves (as the selectors do)."""
    project = ProjectFactory()
    deleted_job(project=project)

    assert Project.objects.filter(jobs__status=S.CANCELLED).exists()
    assert not Project.objects.filter(
        jobs__status=S.CANCELLED, jobs__deleted_at__isnull=True
    ).exists()


# --- QuerySet.delete() and purge() ------------------------------------------------


def test_queryset_delete_soft_deletes_finished_jobs_only():
    finished = [IngestJobFactory(status=s) for s in (S.COMPLETED, S.FAILED, S.CANCELLED)]
    active = [IngestJobFactory(status=s) for s in (S.QUEUED, S.RUNNING, S.CANCELLING)]

    deleted = IngestJob.objects.all().delete()

    assert deleted == (3, {"ingest.IngestJob": 3})
    assert IngestJob.all_objects.count() == 6  # nothing hard-deleted
    for job in finished:
        fresh = IngestJob.all_objects.get(pk=job.pk)
        assert (fresh.status, fresh.is_deleted) == (S.CANCELLED, True)
    for job in active:
        fresh = IngestJob.all_objects.get(pk=job.pk)
        assert (fresh.status, fresh.is_deleted) == (job.status, False)
    assert set(IngestJob.objects.all()) == set(active)


def test_queryset_delete_audits_each_job_with_its_former_state():
    job = IngestJobFactory(status=S.FAILED)

    IngestJob.objects.filter(pk=job.pk).delete()

    [event] = lifecycle.events_for(job)
    assert (event.from_status, event.to_status, event.action, event.reason) == (
        S.FAILED,
        S.CANCELLED,
        "delete",
        "deleted in bulk",
    )


def test_queryset_delete_skips_already_deleted_jobs():
    gone = deleted_job()

    assert IngestJob.all_objects.all().delete() == (0, {"ingest.IngestJob": 0})
    assert len(lifecycle.events_for(gone)) == 1


def test_instance_delete_soft_deletes_finished_job():
    """DESIGN: a hard delete happens only through an explicit purge."""
    job = IngestJobFactory(status=S.FAILED)

    assert job.delete() == (1, {"ingest.IngestJob": 1})

    assert job.is_deleted and job.status == S.CANCELLED
    fresh = IngestJob.all_objects.get(pk=job.pk)
    assert (fresh.status, fresh.is_deleted) == (S.CANCELLED, True)
    assert [e.from_status for e in lifecycle.events_for(job)] == [S.FAILED]


@pytest.mark.parametrize("status", [S.QUEUED, S.RUNNING, S.CANCELLING])
def test_instance_delete_leaves_active_job_alone(status):
    job = IngestJobFactory(status=status)

    assert job.delete() == (0, {"ingest.IngestJob": 0})

    fresh = IngestJob.objects.get(pk=job.pk)
    assert (fresh.status, fresh.version) == (status, 1)


def test_manager_has_no_delete_only_querysets_do():
    assert not hasattr(IngestJob.objects, "delete")


def test_purge_removes_rows_for_good_with_their_files():
    keep = IngestJobFactory(status=S.COMPLETED)
    gone = deleted_job()
    IngestFileFactory(job=gone)
    document = DocumentFactory(project=gone.project, job=gone)

    count, per_model = IngestJob.all_objects.deleted().purge()

    assert per_model["ingest.IngestJob"] == 1
    assert per_model["ingest.IngestFile"] == 1
    assert count >= 2
    assert not IngestJob.all_objects.filter(pk=gone.pk).exists()
    assert IngestJob.objects.filter(pk=keep.pk).exists()
    # The project's documents are canonical data: they outlive the purged job.
    assert Document.objects.get(pk=document.pk).job is None


def test_purge_through_default_manager_cannot_reach_deleted_rows():
    deleted_job()

    count, _ = IngestJob.objects.all().purge()

    assert count == 0
    assert IngestJob.all_objects.count() == 1


# --- percent and etag -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "percent"),
    [
        ({"bytes_total": 200, "bytes_done": 50, "items_total": 4, "items_done": 3}, 25),
        ({"bytes_total": 3, "bytes_done": 2}, 66),  # floored, never rounded up to done
        ({"bytes_total": 10, "bytes_done": 15}, 100),  # capped
        ({"items_total": 4, "items_done": 1}, 25),
        ({"items_total": 2, "items_done": 5}, 100),
        ({}, 0),
        ({"status": S.COMPLETED}, 100),
        ({"status": S.CANCELLED}, 0),
    ],
)
def test_percent(fields, percent):
    assert IngestJobFactory.build(**fields).percent == percent


def test_etag_follows_version():
    job = IngestJobFactory(status=S.QUEUED)
    assert job.etag == 'W/"1"'

    lifecycle.start(job, worker_host="h")

    assert job.etag == 'W/"2"'
    assert IngestJob.objects.get(pk=job.pk).etag == 'W/"2"'


def test_str_names_type_id_and_status():
    job = IngestJobFactory(status=S.RUNNING)

    assert str(job) == f"ingest job {job.pk} (running)"


def test_job_event_points_back_at_its_job():
    job = IngestJobFactory(status=S.QUEUED)
    lifecycle.start(job, worker_host="h")

    event = JobEvent.objects.get(job_id=job.pk)

    assert event.content_type == ContentType.objects.get_for_model(IngestJob)
    assert event.job == job
    assert list(job.events.all()) == [event]
    assert str(event) == "start: queued -> running"
    assert event.at <= timezone.now()


# --- what a concrete job type gives jobs/ ------------------------------------------


def test_a_job_type_must_say_what_its_result_is():
    job = IngestJobFactory.build()

    with pytest.raises(NotImplementedError, match="build_result"):
        Job.build_result(job)


def test_a_job_types_events_go_to_its_own_channel_unless_it_names_one():
    job = IngestJobFactory.build()

    assert Job.event_channel.fget(job) == "jobs:ingest.ingestjob"
    assert job.event_channel == f"ingest:project:{job.project_id}"
    assert job.log_fields() == {"job": job.pk, "project": job.project_id}
