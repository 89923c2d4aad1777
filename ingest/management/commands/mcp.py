"""Serve the agents' tools over stdio (MCP) as one user.

manage.py mcp --user USERNAME

An MCP client starts this command and talks JSON-RPC on its stdin and stdout;
logs go to stderr. Every tool acts, and is audited, as USERNAME.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ingest.agents.server import build_server


class Command(BaseCommand):
    help = "Serve the agents' MCP tools over stdio, acting as --user."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the username every tool acts as")

    def handle(self, *args, user: str, **options):
        found = get_user_model().objects.filter(username=user, is_active=True).first()
        if found is None:
            raise CommandError(f"no active user is called {user!r}.")
        build_server(lambda ctx: found).run("stdio")
