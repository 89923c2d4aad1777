from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from ingest import services
from ingest.models import Project


class Command(BaseCommand):
    help = "Create the demo login (a superuser) and its demo project, if missing."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("password")

    def handle(self, *args, username, password, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_superuser(username, f"{username}@example.com", password)
            self.stdout.write(f"created user {username}")
        if not Project.objects.filter(memberships__user=user).exists():
            project = services.project_create(user=user, name="Demo project")
            self.stdout.write(f"created project {project.name} ({project.pk})")
