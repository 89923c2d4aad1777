"""Serve the agents' tools over stdio (MCP) as one user.

manage.py mcp --user USERNAME

An MCP client starts this command and talks JSON-RPC on its stdin and stdout;
logs go to stderr. Every tool acts, and is audited, as USERNAME. The user is
read again for every call, so a user deactivated while the server runs is
refused from the next call on, as the API refuses its token.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from config import auth
from ingest.agents.server import acting_as, build_server


class Command(BaseCommand):
    help = "Serve the agents' MCP tools over stdio, acting as --user."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the username every tool acts as")

    def handle(self, *args, user: str, **options):
        found = get_user_model().objects.filter(username=user, is_active=True).first()
        if found is None:
            raise CommandError(f"no active user is called {user!r}.")
        if auth.refused_demo(found):
            raise CommandError(auth.DEMO_REFUSED)
        build_server(acting_as(found.pk)).run("stdio")
