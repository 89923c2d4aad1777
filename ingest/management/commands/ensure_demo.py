from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ingest import services
from ingest.models import Project


class Command(BaseCommand):
    help = (
        "Create the demo login (a superuser) and its demo project, if missing; "
        "with --disable (DEBUG off), make the demo login unusable."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("password")
        parser.add_argument(
            "--disable",
            action="store_true",
            help="lock the demo login out (unusable password, inactive), as a start with DEBUG off does",
        )

    def handle(self, *args, username, password, disable, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if disable:
            self.disable(user)
            return
        if not settings.DEBUG:
            raise CommandError("DEBUG is off: the demo login is for development only.")
        if user is None:
            user = User.objects.create_superuser(username, f"{username}@example.com", password)
            self.stdout.write(f"created user {username}")
        elif not user.is_active or not user.has_usable_password():
            # Disabled by an earlier start with DEBUG off; a development start
            # gives it back.
            user.set_password(password)
            user.is_active = True
            user.save(update_fields=["password", "is_active"])
            self.stdout.write(f"demo login {username} enabled again (DEBUG is on)")
        if not Project.objects.filter(memberships__user=user).exists():
            # Names are unique site-wide: another user may have this one.
            name = "Demo project"
            if services.project_named(name):
                name = f"Demo project ({username})"
            project = services.project_create(user=user, name=name)
            self.stdout.write(f"created project {project.name} ({project.pk})")

    def disable(self, user) -> None:
        if user is None or (not user.is_active and not user.has_usable_password()):
            return
        # An unusable password also ends every session it opened (the session
        # hash no longer matches), and an inactive user has no API token use.
        user.set_unusable_password()
        user.is_active = False
        user.save(update_fields=["password", "is_active"])
        self.stdout.write(f"demo login {user.username} disabled: DEBUG is off")
