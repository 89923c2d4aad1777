"""``manage.py grant_auditor NAME``: make a user an auditor.

An auditor is staff in the "auditors" group (a data migration creates it with
view permissions only): they log in at /admin/ and see every job, deleted
ones included, with its files and audit trail, and change nothing.
``--revoke`` takes it back.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

AUDITORS = "auditors"


class Command(BaseCommand):
    help = (
        "Make a user an auditor (staff in the 'auditors' group: read-only admin, deleted "
        "jobs included); --revoke takes it back."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--revoke", action="store_true", help="remove the user from the auditors"
        )

    def handle(self, *args, username, revoke, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"No user is called {username!r}. Create the account first "
                "(manage.py createsuperuser, or the admin's Users page)."
            )
        group = Group.objects.filter(name=AUDITORS).first()
        if group is None:
            raise CommandError("The auditors group is missing: run manage.py migrate first.")
        with transaction.atomic():
            if revoke:
                self.revoke(user, group)
            else:
                self.grant(user, group)

    def grant(self, user, group) -> None:
        user.groups.add(group)
        if not user.is_staff:
            user.is_staff = True  # the admin lets only staff in
            user.save(update_fields=["is_staff"])
        self.stdout.write(
            f"{user.username} is an auditor: at /admin/ they see every job, deleted ones "
            "included, with its files and audit trail, and change nothing."
        )

    def revoke(self, user, group) -> None:
        user.groups.remove(group)
        # Staff for auditing only: nothing else left to do in the admin.
        keeps_a_reason = user.is_superuser or user.groups.exists() or user.user_permissions.exists()
        if user.is_staff and not keeps_a_reason:
            user.is_staff = False
            user.save(update_fields=["is_staff"])
        self.stdout.write(f"{user.username} is no longer an auditor.")
