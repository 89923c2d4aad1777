"""The admin: auditors see everything (deleted rows included) and change
nothing; operators' actions call the services and leave an admin log entry."""

import django_rq
import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from ingest.models import Document, FileMember, IngestJob
from ingest.services import job_enqueue
from jobs import lifecycle
from jobs.models import JobEvent, JobStatus
from tests.factories import DocumentFactory, IngestFileFactory, IngestJobFactory, UserFactory

pytestmark = pytest.mark.django_db

JOBS = "/admin/ingest/ingestjob/"


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def auditor():
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="auditors"))
    return user


@pytest.fixture
def superuser():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def operator():
    """Staff allowed to operate on jobs, but not a superuser."""
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_ingestjob", "change_ingestjob"])
    )
    return user


@pytest.fixture
def jobs(project):
    alive = IngestJobFactory(project=project, name="alive report", status=JobStatus.COMPLETED)
    IngestFileFactory(job=alive, name="alive.txt")
    gone = IngestJobFactory(project=project, name="deleted ledger", status=JobStatus.FAILED)
    IngestFileFactory(job=gone, name="ledger.csv", status="failed", error="bad row")
    lifecycle.soft_delete(gone, reason="tidy up")
    return alive, gone


def run_action(client, action: str, *jobs):
    return client.post(
        JOBS, {"action": action, "_selected_action": [str(j.pk) for j in jobs]}, follow=True
    )


def admin_log(job) -> list[tuple[int, str]]:
    entries = LogEntry.objects.filter(object_id=str(job.pk)).order_by("id")
    return [(e.action_flag, e.get_change_message()) for e in entries]


# --- auditors ----------------------------------------------------------------------


def test_auditors_group_holds_view_permissions_only():
    group = Group.objects.get(name="auditors")
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert codenames == {
        "view_project",
        "view_membership",
        "view_ingestjob",
        "view_ingestfile",
        "view_document",
        "view_chunk",
        "view_documentsource",
        "view_filemember",
        "view_jobevent",
    }


def test_auditor_sees_deleted_jobs_and_filters_them(auditor, jobs):
    client = browser(auditor)
    page = client.get(JOBS).content.decode()
    assert "alive report" in page and "deleted ledger" in page
    only_deleted = client.get(JOBS, {"deleted": "yes"}).content.decode()
    assert "deleted ledger" in only_deleted and "alive report" not in only_deleted
    only_alive = client.get(JOBS, {"deleted": "no"}).content.decode()
    assert "alive report" in only_alive and "deleted ledger" not in only_alive


def test_auditor_searches_jobs_by_id_and_name_and_by_date(auditor, jobs):
    alive, gone = jobs
    client = browser(auditor)
    by_id = client.get(JOBS, {"q": str(gone.pk)}).content.decode()
    assert "deleted ledger" in by_id and "alive report" not in by_id
    by_name = client.get(JOBS, {"q": "ledger"}).content.decode()
    assert "deleted ledger" in by_name and "alive report" not in by_name
    year = alive.created_at.year
    assert "alive report" in client.get(JOBS, {"created_at__year": year}).content.decode()
    assert "alive report" not in client.get(JOBS, {"created_at__year": year - 1}).content.decode()


def test_auditor_sees_a_deleted_jobs_files_and_events_read_only(auditor, jobs):
    _, gone = jobs
    response = browser(auditor).get(f"{JOBS}{gone.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "ledger.csv" in page and "bad row" in page
    assert "tidy up" in page  # the delete event's reason
    assert 'name="_save"' not in page
    # No editable field, on the job or in its inlines.
    for field in (
        'name="name"',
        'name="files-0-name"',
        'name="jobs-jobevent-content_type-job_id-0-reason"',
    ):
        assert field not in page


@pytest.mark.parametrize(
    "url",
    [
        "/admin/ingest/ingestfile/",
        "/admin/ingest/document/",
        "/admin/jobs/jobevent/",
        "/admin/ingest/project/",
    ],
)
def test_auditor_views_the_other_lists(auditor, jobs, url):
    DocumentFactory(project=jobs[0].project, title="kept document")
    response = browser(auditor).get(url)
    assert response.status_code == 200


def test_auditor_sees_file_members_in_the_admin(auditor, jobs):
    _, gone = jobs  # a deleted job's members too
    archive = IngestFileFactory(job=gone, name="bundle.zip")
    member = FileMember.objects.create(
        file=archive, position=0, name="inner/readme.txt", status="failed", error="unreadable"
    )
    client = browser(auditor)

    listed = client.get("/admin/ingest/filemember/")
    shown = client.get(f"/admin/ingest/filemember/{member.pk}/change/")
    index = client.get("/admin/")

    assert listed.status_code == 200
    assert "inner/readme.txt" in listed.content.decode()
    assert shown.status_code == 200
    assert "unreadable" in shown.content.decode()
    assert "/admin/ingest/filemember/" in index.content.decode()
    assert client.post(f"/admin/ingest/filemember/{member.pk}/delete/").status_code == 403


def test_auditor_sees_files_and_events_of_deleted_jobs(auditor, jobs):
    _, gone = jobs
    client = browser(auditor)
    assert "ledger.csv" in client.get("/admin/ingest/ingestfile/").content.decode()
    events = client.get("/admin/jobs/jobevent/", {"q": str(gone.pk)}).content.decode()
    assert "tidy up" in events
    assert f"{JOBS}{gone.pk}/change/" in events


def test_auditor_cannot_change_add_or_delete_anything(auditor, jobs, project):
    alive, gone = jobs
    document = DocumentFactory(project=project, job=alive)
    event = JobEvent.objects.get(job_id=gone.pk)
    file = alive.files.get()
    client = browser(auditor)
    for base, obj in [
        (JOBS, gone),
        ("/admin/ingest/ingestfile/", file),
        ("/admin/ingest/document/", document),
        ("/admin/jobs/jobevent/", event),
        ("/admin/ingest/project/", project),
    ]:
        assert client.post(f"{base}{obj.pk}/change/", {"name": "x"}).status_code == 403
        assert client.get(f"{base}{obj.pk}/delete/").status_code == 403
        assert client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
        assert client.get(f"{base}add/").status_code == 403
    assert IngestJob.all_objects.count() == 2
    assert Document.objects.filter(pk=document.pk).exists()
    assert JobEvent.objects.filter(pk=event.pk).exists()


def test_auditor_is_offered_no_action_and_a_forged_one_does_nothing(auditor, jobs):
    alive, gone = jobs
    client = browser(auditor)
    assert 'name="action"' not in client.get(JOBS).content.decode()
    run_action(client, "delete_jobs", alive)
    run_action(client, "restore_jobs", gone)
    run_action(client, "purge_jobs", gone)
    assert IngestJob.objects.filter(pk=alive.pk).exists()
    assert IngestJob.all_objects.get(pk=gone.pk).deleted_at is not None
    assert not LogEntry.objects.exists()


def test_no_one_deletes_a_job_row_through_the_admin(superuser, jobs):
    alive, _ = jobs
    client = browser(superuser)
    assert client.post(f"{JOBS}{alive.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"{JOBS}{alive.pk}/change/", {"name": "renamed"}).status_code == 403
    alive.refresh_from_db()
    assert (alive.name, alive.deleted_at) == ("alive report", None)


def test_staff_reach_the_queue_dashboard_from_the_admin(auditor):
    client = browser(auditor)
    dashboard = reverse("admin:django_rq_dashboard_changelist")
    assert dashboard in client.get("/admin/").content.decode()
    assert client.get(dashboard, follow=True).redirect_chain == [("/admin/django-rq/", 302)]
    assert client.get("/admin/django-rq/").status_code == 200


def test_auditors_read_the_queues_but_cannot_empty_them(auditor, superuser, redis_conn):
    job = IngestJobFactory(status=JobStatus.QUEUED)
    job_enqueue(job=job)
    queue = django_rq.get_queue("ingest")
    empty = reverse("django_rq:clear", args=[0])

    assert browser(auditor).get(reverse("django_rq:jobs", args=[0])).status_code == 200
    assert browser(auditor).post(empty, {"post": "yes"}).status_code == 403
    assert queue.count == 1
    assert browser(superuser).post(empty, {"post": "yes"}).status_code == 302
    assert queue.count == 0


def test_non_staff_are_sent_to_the_admin_login(user):
    response = browser(user).get(JOBS)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- actions ----------------------------------------------------------------------


def test_cancel_action_cancels_and_logs(superuser, project):
    queued = IngestJobFactory(project=project, status=JobStatus.QUEUED)
    running = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    response = run_action(browser(superuser), "cancel_jobs", queued, running)
    assert "Cancelled 2 job(s)." in response.content.decode()
    queued.refresh_from_db()
    running.refresh_from_db()
    assert (queued.status, running.status) == (JobStatus.CANCELLED, JobStatus.CANCELLING)
    assert admin_log(running) == [(CHANGE, "Cancelled (running -> cancelling).")]
    event = JobEvent.objects.get(job_id=running.pk, action="cancel")
    assert (event.actor, event.reason) == (superuser, "cancelled in admin")


def test_a_refused_action_says_why_and_logs_nothing(superuser, jobs):
    alive, _ = jobs
    response = run_action(browser(superuser), "cancel_jobs", alive)
    assert "job already completed" in response.content.decode()
    assert admin_log(alive) == []


def test_cleanup_action_calls_the_service_and_logs_its_counts(superuser, project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    upload = IngestFileFactory(job=job, content=b"12345")
    document = DocumentFactory(project=project, job=job, source_file=upload)
    run_action(browser(superuser), "cleanup_jobs", job)
    assert not default_storage.exists(upload.storage_path)
    assert Document.objects.filter(pk=document.pk).exists()
    ((flag, message),) = admin_log(job)
    assert flag == CHANGE
    assert message.startswith("Cleaned up: removed 1 stored file(s)")
    assert JobEvent.objects.get(job_id=job.pk, action="cleanup").actor == superuser


def test_cleanup_with_documents_action_removes_the_jobs_own_documents(superuser, project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    upload = IngestFileFactory(job=job)
    document = DocumentFactory(project=project, job=job, source_file=upload)
    document.sources.create(file=upload)
    run_action(browser(superuser), "cleanup_jobs_and_documents", job)
    assert not Document.objects.filter(pk=document.pk).exists()
    assert "1 document(s)" in admin_log(job)[0][1]


def test_delete_and_restore_actions_round_trip(superuser, jobs):
    alive, gone = jobs
    client = browser(superuser)
    run_action(client, "delete_jobs", alive)
    run_action(client, "restore_jobs", gone)
    alive = IngestJob.all_objects.get(pk=alive.pk)
    gone = IngestJob.all_objects.get(pk=gone.pk)
    assert alive.deleted_at is not None
    assert (gone.status, gone.deleted_at) == (JobStatus.FAILED, None)
    assert admin_log(alive) == [(CHANGE, "Deleted (soft).")]
    assert admin_log(gone) == [(CHANGE, "Restored as failed.")]


def test_purge_action_is_for_superusers(superuser, operator, jobs):
    alive, gone = jobs
    assert 'value="purge_jobs"' not in browser(operator).get(JOBS).content.decode()
    run_action(browser(operator), "purge_jobs", gone)
    assert IngestJob.all_objects.filter(pk=gone.pk).exists()

    response = run_action(browser(superuser), "purge_jobs", gone, alive)
    page = response.content.decode()
    assert "Purged 1 job(s)." in page
    assert "Not purged (delete them first): alive report." in page
    assert not IngestJob.all_objects.filter(pk=gone.pk).exists()
    assert IngestJob.objects.filter(pk=alive.pk).exists()
    assert (DELETION, "") in admin_log(gone)


def test_operator_runs_the_other_actions(operator, jobs):
    alive, _ = jobs
    page = browser(operator).get(JOBS).content.decode()
    for action in ("cancel_jobs", "cleanup_jobs", "delete_jobs", "restore_jobs"):
        assert f'value="{action}"' in page
    run_action(browser(operator), "delete_jobs", alive)
    assert IngestJob.all_objects.get(pk=alive.pk).deleted_at is not None
