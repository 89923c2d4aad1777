"""The ASGI application the Procfile serves: Django, with the agents' MCP
tools mounted beside it at /mcp/.

Django's handler is ``config.handler``'s unless ``PRIVATE_APIS`` leaves out
"asgi": then it is stock Django's ``get_asgi_application()``.
"""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The web processes never fork once connected, so they can keep a pool of
# database connections (see DATABASE_POOL in the settings).
os.environ.setdefault("DATABASE_POOL", "true")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402 (needs Django set up)

from config.bodies import BodyLimit  # noqa: E402
from config.handler import django_handler  # noqa: E402
from ingest.agents.http import PATH as MCP_PATH  # noqa: E402
from ingest.agents.http import mcp_app  # noqa: E402

django_application = BodyLimit(django_handler())

if settings.DEBUG:
    # The development server (uvicorn) serves static files itself, so the
    # admin and the browsable API are styled with no extra set-up.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_application = ASGIStaticFilesHandler(django_application)

mcp_application = mcp_app()


async def application(scope, receive, send):
    """Django, with the agents' MCP tools mounted beside it at /mcp/.

    The lifespan events go to the MCP app, whose session manager must run
    for as long as the server does; Django's handler takes none.
    """
    if scope["type"] == "lifespan":
        return await mcp_application(scope, receive, send)
    if scope["type"] == "http" and scope["path"] in (MCP_PATH, MCP_PATH.rstrip("/")):
        # The path without its slash answers too: MCP clients are configured by hand.
        return await mcp_application({**scope, "path": MCP_PATH}, receive, send)
    return await django_application(scope, receive, send)


# What the process holds once it has imported Django, the project and its
# libraries stays until it exits, but Python's collector walked all of it in
# every full collection, a pause for every request in flight (the p99s of
# bench.api_latency). Frozen, a full collection walks only what requests made since.
gc.freeze()
