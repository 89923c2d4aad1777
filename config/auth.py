"""The demo login is for development only: with DEBUG off it is refused
however it authenticates.

``run.py`` creates ``demo`` / ``demo`` for a development run, and tokens may
be made for it there. The same database started again with DEBUG off must
not let that account in: a start through ``run.py`` disables it
(``ensure_demo --disable``), and wherever a start did not (a Procfile run
under another process manager), every way in refuses it: the login forms
(this backend), API tokens, ``/mcp/`` and ``manage.py mcp``. With DEBUG off
the name is reserved: no account called ``demo`` is let in.
"""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend

from config.launch import DEMO_USER

DEMO_REFUSED = "the demo login is for development only, and DEBUG is off."


def refused_demo(user) -> bool:
    return not settings.DEBUG and user.get_username() == DEMO_USER


class DemoAwareBackend(ModelBackend):
    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and not refused_demo(user)
