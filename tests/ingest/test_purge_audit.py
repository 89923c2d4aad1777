"""A purge removes a deleted job's row, files and uploads, never its audit
trail: every event stays with the job's id, name and project, a ``purge``
event names who or what purged it, documents keep which job and file they
came from, and auditors find all of it in admin."""

import re
from datetime import timedelta
from importlib import import_module
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.utils import timezone

from ingest import services
from ingest.models import Document, IngestJob
from jobs import lifecycle
from jobs.models import JobEvent, JobStatus
from tests.conftest import BOTH_DATABASES, client_for
from tests.factories import IngestFileFactory, IngestJobFactory, UserFactory
from tests.ingest.test_pipeline import add_file, run, running_job

pytestmark = pytest.mark.django_db


def deleted_long_ago(project, name="ledger import") -> IngestJob:
    job = IngestJobFactory(project=project, name=name, status=JobStatus.QUEUED)
    lifecycle.record_created(job)
    IngestFileFactory(job=job, name="ledger.csv")
    lifecycle.request_cancel(job, reason="wrong batch")
    lifecycle.soft_delete(job, reason="tidy up")
    IngestJob.all_objects.filter(pk=job.pk).update(deleted_at=timezone.now() - timedelta(days=60))
    job.refresh_from_db()
    return job


def trail(job_id) -> list[JobEvent]:
    return list(JobEvent.objects.filter(job_id=job_id).order_by("at", "id"))


def test_the_purge_command_keeps_every_event_and_records_itself(project):
    job = deleted_long_ago(project)
    before = [(e.pk, e.action) for e in trail(job.pk)]
    assert [action for _, action in before] == ["create", "cancel", "delete"]

    call_command("purge_deleted_jobs", "--older-than", "30d", stdout=StringIO())

    assert not IngestJob.all_objects.filter(pk=job.pk).exists()
    events = trail(job.pk)
    assert [(e.pk, e.action) for e in events[:-1]] == before
    assert {(e.job_name, e.job_scope) for e in events} == {("ledger import", str(project.pk))}
    purge = events[-1]
    assert (purge.action, purge.actor, purge.reason) == ("purge", None, "purged (command)")
    assert purge.from_status == purge.to_status == JobStatus.CANCELLED


def test_the_admin_purge_names_the_superuser_and_auditors_find_the_trail(project):
    job = deleted_long_ago(project, name="harbour accounts")
    admin = UserFactory(username="root-operator", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/ingest/ingestjob/",
        {"action": "purge_jobs", "_selected_action": [str(job.pk)]},
        follow=True,
    )
    assert "Purged 1 job(s)." in response.content.decode()

    purge = trail(job.pk)[-1]
    assert (purge.action, purge.actor) == ("purge", admin)
    assert purge.reason == "purged (admin) by root-operator"

    auditor = UserFactory(is_staff=True)
    auditor.groups.add(auditors_group())
    client = Client()
    client.force_login(auditor)
    for query in ("harbour accounts", str(project.pk)):
        page = client.get("/admin/jobs/jobevent/", {"q": query}).content.decode()
        assert page.count("harbour accounts") >= 4  # create, cancel, delete, purge
        assert "purged (admin) by root-operator" in page
        assert "wrong batch" in page and "tidy up" in page


def test_the_retention_purge_says_the_reaper_did_it_by_default(project):
    job = deleted_long_ago(project)
    assert services.purge_deleted_jobs(age=timedelta(days=30)) == [job]
    assert trail(job.pk)[-1].reason == "purged (reaper)"


def test_a_purge_refuses_an_unknown_origin(project):
    job = deleted_long_ago(project)
    with pytest.raises(ValueError, match="via must be one of"):
        services.job_purge(job=job, via="somebody")
    assert IngestJob.all_objects.filter(pk=job.pk).exists()


def auditors_group() -> Group:
    """The group as its data migration makes it: in a transactional test it may
    be gone, flushed by an earlier one (the permissions come back, it does not)."""
    migration = import_module("ingest.migrations.0002_auditors_group")
    group, _ = Group.objects.get_or_create(name=migration.AUDITORS)
    for label, codenames in migration.VIEW_PERMISSIONS.items():
        found = Permission.objects.filter(content_type__app_label=label, codename__in=codenames)
        group.permissions.add(*found)
    return group


@pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES)
def test_documents_keep_their_job_and_file_after_a_purge(project, user):
    job = running_job(project=project, name="minutes")
    source = add_file(job, "minutes.txt", b"The board met on Tuesday and agreed the budget.\n")
    run(job)
    connections[settings.JOB_STATE_DB].close()
    assert lifecycle.complete(job, result={})
    lifecycle.soft_delete(job)
    document = Document.objects.get()

    assert services.job_purge(job=job, actor=user, via="admin")

    document.refresh_from_db()
    assert (document.job_id, document.source_file_id) == (None, None)  # the rows are gone
    assert (document.origin_job_id, document.origin_job_name) == (job.pk, "minutes")
    assert (document.origin_file_id, document.origin_file_name) == (source.pk, "minutes.txt")
    body = client_for(user).get(f"/api/projects/{project.pk}/documents/{document.pk}/").json()
    assert (body["source_job"], body["source_file"]) == (str(job.pk), "minutes.txt")

    auditor = UserFactory(is_staff=True)
    auditor.groups.add(auditors_group())
    client = Client()
    client.force_login(auditor)
    page = client.get("/admin/ingest/document/", {"q": str(job.pk)}).content.decode()
    text = " ".join(re.sub(r"<[^>]+>", " ", page[page.find("content-main") :]).split())
    assert "minutes.txt" in text and "1 document" in text, text[:500]
