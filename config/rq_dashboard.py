"""django-rq's queue dashboard, for staff to read and superusers to act on.

django-rq lets any staff member empty a queue or delete, requeue and stop
jobs. Auditors are staff but must change nothing, and a job's state lives in
the database, not in RQ: so every request that is not a read needs a
superuser here.

A job Redis no longer holds is a normal state (a cleanup or a purge removed
it, or it finished long ago): django-rq's job pages raise ``NoSuchJobError``
for it, which the wrapper answers as 404 rather than a server error.
"""

import functools

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import include, path
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns
from rq.exceptions import NoSuchJobError

READS = frozenset({"GET", "HEAD", "OPTIONS"})


def superuser_writes(view):
    @functools.wraps(view)
    def guarded(request, *args, **kwargs):
        if request.method not in READS and not request.user.is_superuser:
            raise PermissionDenied("only a superuser can change the queues.")
        try:
            return view(request, *args, **kwargs)
        except NoSuchJobError:
            raise Http404("no such job in the queues: it was removed or has expired.") from None

    return guarded


urlpatterns = [
    path(
        "",
        include(
            (
                get_api_urlpatterns() + get_admin_urlpatterns(view_wrapper=superuser_writes),
                "django_rq",
            )
        ),
    )
]
