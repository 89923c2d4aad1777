"""Reads that encode access rules: membership, hidden deleted rows, ordering."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from ingest import selectors
from ingest.models import Role
from ingest.search import index
from jobs import lifecycle
from jobs.models import JobStatus
from tests.conftest import member
from tests.factories import (
    DocumentFactory,
    IngestJobFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_membership_get_returns_the_role_of_a_member(project):
    viewer = member(project, Role.VIEWER)
    membership = selectors.membership_get(user=viewer, project_id=str(project.pk))
    assert (membership.project, membership.role) == (project, Role.VIEWER)


@pytest.mark.parametrize("project_id", ["not-a-uuid", "", "00000000-0000-0000-0000-000000000000"])
def test_membership_get_refuses_malformed_and_unknown_projects(user, project_id):
    with pytest.raises(selectors.NotFound):
        selectors.membership_get(user=user, project_id=project_id)


def test_membership_get_refuses_non_members_and_anonymous_users(project):
    for outsider in (UserFactory(), AnonymousUser()):
        with pytest.raises(selectors.NotFound):
            selectors.membership_get(user=outsider, project_id=project.pk)


def test_project_list_counts_alive_jobs_only(project, user):
    IngestJobFactory(project=project)
    IngestJobFactory(project=project, status=JobStatus.RUNNING)
    IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    lifecycle.soft_delete(IngestJobFactory(project=project, status=JobStatus.FAILED))
    ProjectFactory()
    (listed,) = selectors.project_list(user=user)
    assert listed == project
    assert (listed.active_jobs, listed.finished_jobs) == (2, 1)


def test_job_list_is_newest_first_without_deleted_or_foreign_jobs(project):
    now = timezone.now()
    old = IngestJobFactory(project=project, created_at=now - timedelta(hours=2))
    new = IngestJobFactory(project=project, created_at=now)
    same_time = IngestJobFactory(project=project, created_at=now - timedelta(hours=1))
    twin = IngestJobFactory(project=project, created_at=same_time.created_at)
    gone = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    lifecycle.soft_delete(gone)
    IngestJobFactory()
    listed = list(selectors.job_list(project=project))
    ties = sorted([same_time, twin], key=lambda j: j.pk, reverse=True)
    assert listed == [new, *ties, old]


def test_job_list_filters_by_status(project):
    running = IngestJobFactory(project=project, status=JobStatus.RUNNING)
    IngestJobFactory(project=project)
    assert list(selectors.job_list(project=project, status="running")) == [running]


def test_job_get_finds_only_this_projects_alive_job(project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    assert selectors.job_get(project=project, job_id=str(job.pk)) == job
    with pytest.raises(selectors.NotFound):
        selectors.job_get(project=ProjectFactory(), job_id=job.pk)
    with pytest.raises(selectors.NotFound):
        selectors.job_get(project=project, job_id="123")
    lifecycle.soft_delete(job)
    with pytest.raises(selectors.NotFound):
        selectors.job_get(project=project, job_id=job.pk)


def test_document_list_searches_titles_and_text_case_insensitively(project):
    titled = DocumentFactory(project=project, title="Annual Budget")
    texted = DocumentFactory(project=project, title="Notes")
    index.chunk(document=texted, index=0, text="the BUDGET was cut", start=0, end=18).save()
    DocumentFactory(project=project, title="Other")
    DocumentFactory(title="budget elsewhere")
    assert set(selectors.document_list(project=project, q="budget")) == {titled, texted}
    assert selectors.document_list(project=project).count() == 3


def test_document_get_refuses_other_projects_and_malformed_ids(project):
    document = DocumentFactory(project=project)
    assert selectors.document_get(project=project, document_id=str(document.pk)) == document
    with pytest.raises(selectors.NotFound):
        selectors.document_get(project=ProjectFactory(), document_id=document.pk)
    with pytest.raises(selectors.NotFound):
        selectors.document_get(project=project, document_id="nope")


def test_documents_stay_when_their_job_is_deleted(project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    document = DocumentFactory(project=project, job=job)
    lifecycle.soft_delete(job)
    fetched = selectors.document_get(project=project, document_id=document.pk)
    assert fetched.job_id == job.pk
    assert fetched.job.deleted_at is not None  # reached through the base manager


def test_operators_see_deleted_jobs_only_when_they_ask(project):
    alive = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    gone = IngestJobFactory(project=project, status=JobStatus.FAILED)
    lifecycle.soft_delete(gone)

    assert list(selectors.job_list(project=project)) == [alive]
    assert set(selectors.job_list(project=project, include_deleted=True)) == {alive, gone}
    with pytest.raises(selectors.NotFound):
        selectors.job_find(job_id=gone.pk)
    assert selectors.job_find(job_id=gone.pk, include_deleted=True) == gone


def test_projects_are_called_by_id_or_by_name(project):
    twin_a = ProjectFactory(name="Twins")

    assert selectors.projects_called(id_or_name=str(project.pk)) == [project]
    assert selectors.projects_called(id_or_name=project.name) == [project]
    assert selectors.projects_called(id_or_name="Twins") == [twin_a]
    assert selectors.projects_called(id_or_name=str(twin_a.pk)) == [twin_a]
    assert selectors.projects_called(id_or_name="Nowhere") == []
