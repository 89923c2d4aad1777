"""django-rq's queue dashboard, for staff to read and superusers to act on.

django-rq lets any staff member empty a queue or delete, requeue and stop
jobs. Auditors are staff but must change nothing, and a job's state lives in
the database, not in RQ: so every request that is not a read needs a
superuser here.
"""

import functools

from django.core.exceptions import PermissionDenied
from django.urls import include, path
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

READS = frozenset({"GET", "HEAD", "OPTIONS"})


def superuser_writes(view):
    @functools.wraps(view)
    def guarded(request, *args, **kwargs):
        if request.method not in READS and not request.user.is_superuser:
            raise PermissionDenied("only a superuser can change the queues.")
        return view(request, *args, **kwargs)

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
