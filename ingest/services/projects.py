"""Projects and their members."""

from django.contrib.auth import get_user_model
from django.db import transaction

from ingest.models import (
    Membership,
    Project,
    Role,
)
from ingest.services.errors import InvalidInput, LastOwner, PermissionRefused


def project_create(*, user, name: str) -> Project:
    """Create a project; its creator becomes its owner."""
    with transaction.atomic():
        project = Project.objects.create(name=name.strip(), created_by=user)
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
    return project


def membership_add(*, actor_membership: Membership, username: str, role: str) -> Membership:
    """An owner adds a user to the project, or changes their role."""
    if actor_membership.role != Role.OWNER:
        raise PermissionRefused("only an owner can add members.")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise InvalidInput(f"no user is called {username!r}.", code="invalid", field="username")
    project = actor_membership.project
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
