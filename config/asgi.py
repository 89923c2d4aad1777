import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The web processes never fork once connected, so they can keep a pool of
# database connections (see DATABASE_POOL in the settings).
os.environ.setdefault("DATABASE_POOL", "true")
application = get_asgi_application()

if settings.DEBUG:
    # The development server (uvicorn) serves static files itself, so the
    # admin and the browsable API are styled with no extra set-up.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
