"""Authentication backend: Django's, except that the demo login is refused
whenever DEBUG is off.

``run.py`` creates ``demo`` / ``demo`` for a development run. The same
database started again with DEBUG off must not let that known password in:
the start disables the account (``ensure_demo --disable``), and this backend
refuses the pair even where a start did not (a web process started by honcho
or a process manager of its own).
"""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend

from config.launch import DEMO_PASSWORD, DEMO_USER


class DemoAwareBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.DEBUG and username == DEMO_USER and password == DEMO_PASSWORD:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
