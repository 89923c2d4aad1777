"""A project's people: the members page (owners add, change roles, remove),
unique project names, and ``manage.py grant_auditor``."""

import importlib
import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from ingest import services
from ingest.models import Membership, Project, Role
from tests.conftest import member
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def members_url(project, name="ingest:member-list", **kwargs) -> str:
    return reverse(name, kwargs={"project_id": project.pk, **kwargs})


def roles(project) -> dict:
    return {m.user.username: m.role for m in project.memberships.select_related("user")}


# --- the members page -------------------------------------------------------------


def test_an_owner_adds_someone_with_a_role(user, project):
    newcomer = UserFactory(username="alice")
    response = browser(user).post(
        members_url(project), {"username": "alice", "role": "viewer"}, follow=True
    )
    assert "alice added as viewer." in response.content.decode()
    assert roles(project)["alice"] == Role.VIEWER
    assert newcomer.memberships.get().project == project


def test_adding_an_unknown_or_existing_user_is_refused_beside_the_field(user, project):
    client = browser(user)
    member(project, Role.VIEWER).username  # noqa: B018
    viewer = project.memberships.get(role=Role.VIEWER).user
    response = client.post(members_url(project), {"username": "ghost", "role": "member"})
    assert response.status_code == 400
    assert "No user is called &#x27;ghost&#x27;." in response.content.decode()
    response = client.post(members_url(project), {"username": viewer.username, "role": "owner"})
    assert response.status_code == 400
    assert f"{viewer.username} is already a member of this project, as viewer." in (
        response.content.decode()
    )
    assert roles(project)[viewer.username] == Role.VIEWER  # not changed by an "add"


def test_an_owner_changes_a_role_and_removes_a_member(user, project):
    viewer = member(project, Role.VIEWER)
    row = project.memberships.get(user=viewer)
    client = browser(user)
    response = client.post(
        members_url(project, "ingest:member-role", member_id=row.pk),
        {"role": "member"},
        follow=True,
    )
    assert f"{viewer.username} is now member." in response.content.decode()
    response = client.post(
        members_url(project, "ingest:member-remove", member_id=row.pk), follow=True
    )
    assert f"{viewer.username} removed from “{project.name}”." in response.content.decode()
    assert viewer.username not in roles(project)


def test_the_last_owner_can_neither_leave_nor_step_down(user, project):
    own = project.memberships.get(user=user)
    client = browser(user)
    response = client.post(members_url(project, "ingest:member-remove", member_id=own.pk))
    assert response.status_code == 409
    assert "A project keeps at least one owner" in response.content.decode()
    response = client.post(
        members_url(project, "ingest:member-role", member_id=own.pk), {"role": "viewer"}
    )
    assert response.status_code == 409
    assert roles(project)[user.username] == Role.OWNER


def test_an_owner_may_leave_once_another_owner_remains(user, project):
    member(project, Role.OWNER)
    own = project.memberships.get(user=user)
    response = browser(user).post(
        members_url(project, "ingest:member-remove", member_id=own.pk), follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("ingest:project-list")
    assert f"You left “{project.name}”." in response.content.decode()
    assert user.username not in roles(project)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
def test_members_who_are_not_owners_see_the_list_and_change_nothing(project, role):
    someone = member(project, role)
    other = project.memberships.exclude(user=someone).first()
    client = browser(someone)
    page = client.get(members_url(project)).content.decode()
    assert "Only the project's owners add and remove members" in page
    assert "<select" not in page and "Add member" not in page
    assert (
        client.post(
            members_url(project), {"username": someone.username, "role": "owner"}
        ).status_code
        == 403
    )
    removal = client.post(members_url(project, "ingest:member-remove", member_id=other.pk))
    assert removal.status_code == 403
    assert roles(project)[someone.username] == role


def test_a_non_member_gets_404_and_a_member_of_another_project_cannot_be_named(user, project):
    elsewhere = MembershipFactory(role=Role.OWNER)
    assert browser(elsewhere.user).get(members_url(project)).status_code == 404
    response = browser(user).post(
        members_url(project, "ingest:member-remove", member_id=elsewhere.pk)
    )
    assert response.status_code == 404
    assert Membership.objects.filter(pk=elsewhere.pk).exists()


# --- unique project names -----------------------------------------------------------


def test_project_names_are_unique_whatever_their_case(user):
    services.project_create(user=user, name="Annual Reports")
    other = UserFactory()
    with pytest.raises(services.InvalidInput, match="“Annual Reports” already exists"):
        services.project_create(user=other, name="  annual REPORTS ")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProjectFactory(name="ANNUAL reports")  # the table itself refuses it
    assert Project.objects.filter(name__iexact="annual reports").count() == 1


def test_the_dashboard_and_the_api_refuse_a_taken_name_in_words(user, api):
    ProjectFactory(name="Shared")
    page = browser(user).post(reverse("ingest:project-list"), {"name": "shared"})
    assert page.status_code == 400
    assert "A project called “Shared” already exists" in page.content.decode()
    response = api.post("/api/projects/", {"name": "SHARED"}, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["detail"]


def test_existing_duplicate_names_are_numbered_by_the_migration():
    migration = importlib.import_module("ingest.migrations.0008_project_unique_name")
    oldest_first = [
        (1, "Dup"),
        (2, "Other"),
        (3, "dup"),
        (4, "DUP"),
        (5, "dup (2)"),
        (6, "x" * 200),
        (7, "X" * 200),
    ]
    assert migration.renamed(oldest_first) == [
        (3, "dup (2)"),
        (4, "DUP (3)"),
        (5, "dup (2) (2)"),
        (7, "X" * 196 + " (2)"),
    ]


# --- grant_auditor ------------------------------------------------------------------


def test_grant_auditor_makes_a_user_staff_in_the_auditors_group_and_revoke_undoes_it():
    alice = UserFactory(username="alice")
    out = io.StringIO()
    call_command("grant_auditor", "alice", stdout=out)
    alice.refresh_from_db()
    assert alice.is_staff and not alice.is_superuser
    assert list(alice.groups.values_list("name", flat=True)) == ["auditors"]
    assert "alice is an auditor" in out.getvalue()
    assert alice.has_perm("ingest.view_ingestjob") and not alice.has_perm("ingest.change_ingestjob")

    call_command("grant_auditor", "alice", "--revoke", stdout=io.StringIO())
    alice.refresh_from_db()
    assert not alice.is_staff and not alice.groups.exists()


def test_grant_auditor_names_an_unknown_user():
    with pytest.raises(CommandError, match="No user is called 'nobody'"):
        call_command("grant_auditor", "nobody")
    assert Group.objects.get(name="auditors").user_set.count() == 0
