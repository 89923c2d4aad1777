"""Projects and their members."""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower

from ingest.models import (
    Membership,
    Project,
    Role,
)
from ingest.services.errors import InvalidInput, LastOwner, PermissionRefused


def project_create(*, user, name: str) -> Project:
    """Create a project; its creator becomes its owner.

    Names are unique site-wide regardless of case (a constraint of the
    table): the commands and the agents' tools take a project's name.
    """
    name = name.strip()
    if not name:
        raise InvalidInput(field="name", rule="must not be blank.")
    # The constraint decides (no read first, which two requests could both pass).
    try:
        with transaction.atomic():
            project = Project.objects.create(name=name, created_by=user)
            Membership.objects.create(project=project, user=user, role=Role.OWNER)
    except IntegrityError:
        raise _name_taken(project_named(name) or name) from None
    return project


def project_named(name: str) -> str | None:
    """The name of the project called ``name`` in any case, as it is written;
    the database lowers both sides, as the unique constraint does."""
    same = Project.objects.alias(lowered=Lower("name")).filter(lowered=Lower(Value(name)))
    return same.values_list("name", flat=True).first()


def _name_taken(existing: str) -> InvalidInput:
    return InvalidInput(
        f"a project called “{existing}” already exists (names are unique, whatever their "
        "case); choose another name.",
        field="name",
    )


def membership_add(
    *, actor_membership: Membership, username: str, role: str, only_new: bool = False
) -> Membership:
    """An owner adds a user to the project, or changes their role; with
    ``only_new``, a user who is already a member is refused instead."""
    if actor_membership.role != Role.OWNER:
        raise PermissionRefused("only an owner can add members.")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise InvalidInput(f"no user is called {username!r}.", code="invalid", field="username")
    project = actor_membership.project
    if only_new and (known := project.memberships.filter(user=user).first()):
        raise InvalidInput(
            f"{username} is already a member of this project, as {known.get_role_display().lower()}.",
            field="username",
        )
    with transaction.atomic():
        # Locked, so that two owners demoting each other cannot both succeed.
        owners = list(
            project.memberships.select_for_update()
            .filter(role=Role.OWNER)
            .values_list("user_id", flat=True)
        )
        if role != Role.OWNER and owners == [user.pk]:
            raise LastOwner("a project keeps at least one owner: make someone else owner first.")
        membership, _ = Membership.objects.update_or_create(
            project=project, user=user, defaults={"role": role}
        )
    return membership


def membership_remove(*, actor_membership: Membership, username: str) -> Membership:
    """An owner removes a user from the project (themselves included), as
    long as an owner remains. Returns the removed membership (no longer saved)."""
    if actor_membership.role != Role.OWNER:
        raise PermissionRefused("only an owner can remove members.")
    project = actor_membership.project
    with transaction.atomic():
        # Locked, as in membership_add: two owners removing each other cannot both succeed.
        locked = project.memberships.select_for_update(of=("self",)).select_related("user")
        members = {m.user.username: m for m in locked}
        membership = members.get(username)
        if membership is None:
            raise InvalidInput(f"{username!r} is not a member of this project.", field="username")
        owners = [m for m in members.values() if m.role == Role.OWNER]
        if owners == [membership]:
            raise LastOwner("a project keeps at least one owner: make someone else owner first.")
        membership.delete()
    return membership
