"""A transition as one PostgreSQL statement (jobs.writes) writes what the ORM's
UPDATE, refresh and INSERT write, or nothing."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import DataError, connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingest.models import FileStatus, IngestJob
from jobs import lifecycle, writes
from jobs.models import JobEvent
from jobs.models import JobStatus as S
from tests.conftest import postgres_only
from tests.factories import IngestFileFactory, IngestJobFactory, UserFactory

pytestmark = [pytest.mark.django_db, postgres_only]


def event_for(job, **fields) -> JobEvent:
    return JobEvent(
        content_type=ContentType.objects.get_for_model(IngestJob),
        job_id=job.pk,
        from_status=S.RUNNING,
        to_status=S.CANCELLING,
        action="cancel",
        **{**job.audit_fields(), **fields},
    )


def rows(job, **guard):
    return IngestJob.all_objects.filter(pk=job.pk, **guard)


def test_one_statement_updates_refreshes_and_records():
    job = IngestJobFactory(status=S.RUNNING)
    actor = UserFactory()
    event = event_for(job, actor=actor, reason="enough", extra={"asked": ["by", 1]})
    now = timezone.now()
    values = {
        "status": S.CANCELLING,
        "version": F("version") + 1,
        "cancel_requested_at": now,
        "cancel_requested_by": actor,
    }

    with CaptureQueriesContext(connection) as queries:
        found = writes.update_and_insert(rows(job, status=S.RUNNING), values, event)

    assert len(queries) == 1
    fresh = IngestJob.all_objects.get(pk=job.pk)
    # Every column, as a read of the row gives it (times, UUIDs, JSON).
    assert found == {field.attname: getattr(fresh, field.attname) for field in fresh._meta.fields}
    assert (fresh.status, fresh.version, fresh.cancel_requested_at) == (S.CANCELLING, 2, now)
    [stored] = JobEvent.objects.filter(job_id=job.pk)
    assert (stored.action, stored.actor, stored.reason, stored.extra) == (
        "cancel",
        actor,
        "enough",
        {"asked": ["by", 1]},
    )
    assert (stored.job_name, stored.job_scope, stored.at) == (
        job.name,
        str(job.project_id),
        event.at,
    )


def test_a_guard_that_misses_writes_nothing_and_returns_none():
    job = IngestJobFactory(status=S.COMPLETED)

    found = writes.update_and_insert(
        rows(job, status=S.RUNNING), {"status": S.CANCELLING}, event_for(job)
    )

    assert found is None
    assert IngestJob.all_objects.get(pk=job.pk).status == S.COMPLETED
    assert not JobEvent.objects.filter(job_id=job.pk).exists()


def test_an_event_the_database_refuses_undoes_the_update():
    """One statement is one transaction: no UPDATE without its audit event."""
    job = IngestJobFactory(status=S.RUNNING)
    too_long = event_for(job, job_name="n" * 201)  # varchar(200)

    with pytest.raises(DataError), transaction.atomic():
        writes.update_and_insert(rows(job), {"status": S.CANCELLING}, too_long)

    assert IngestJob.all_objects.get(pk=job.pk).status == S.RUNNING
    assert not JobEvent.objects.filter(job_id=job.pk).exists()


def test_an_unsaved_actor_is_refused_as_save_refuses_it():
    job = IngestJobFactory(status=S.RUNNING)

    with pytest.raises(ValueError, match="unsaved related object"):
        writes.update_and_insert(
            rows(job), {"status": S.CANCELLING}, event_for(job, actor=UserFactory.build())
        )

    assert IngestJob.all_objects.get(pk=job.pk).status == S.RUNNING


def test_settled_progress_is_computed_in_the_update():
    """The subqueries of a finishing UPDATE (OuterRef to the job) compile inside it."""
    job = IngestJobFactory(status=S.RUNNING, items_done=0, bytes_done=0)
    IngestFileFactory(job=job, status=FileStatus.DONE, content=b"12345")
    IngestFileFactory(job=job, status=FileStatus.PENDING, content=b"123")

    outcome = lifecycle.fail(job, error="boom", result={})

    assert outcome == lifecycle.Outcome(S.RUNNING, S.FAILED)
    assert (job.items_done, job.bytes_done) == (1, 5)
    assert IngestJob.all_objects.get(pk=job.pk).items_done == 1


def test_refresh_keeps_a_related_object_only_while_its_id_is_the_same():
    job = IngestJobFactory(status=S.RUNNING)
    job = IngestJob.all_objects.select_related("project", "cancel_requested_by").get(pk=job.pk)
    actor = UserFactory()
    assert job.cancel_requested_by is None
    job._prefetched_objects_cache = {"files": ["stale"]}

    lifecycle.request_cancel(job, actor=actor)

    with CaptureQueriesContext(connection) as queries:
        assert job.project.pk == job.project_id  # unchanged: still cached
    assert len(queries) == 0
    assert job.cancel_requested_by == actor  # changed: read again
    assert job._prefetched_objects_cache == {}
