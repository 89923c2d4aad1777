"""django-rq's queue dashboard, for staff to read and superusers to act on.

django-rq lets any staff member empty a queue or delete, requeue and stop
jobs. Auditors are staff but must change nothing, and a job's state lives in
the database, not in RQ: so every request that is not a read needs a
superuser here. This is the dashboard's only mount: the admin's own entry for
it (``ingest.admin.QueueDashboardAdmin``) redirects here instead of serving
django-rq's views a second time without this guard.

A job Redis no longer holds is a normal state (a cleanup or a purge removed
it, or it finished long ago), and so is a worker that has stopped: django-rq
raises for those and for a queue number beyond its list, which the guard
answers as 404 rather than a server error.

The dashboard's pages ask for a staff login before anything else, as the
rest of the admin does: an anonymous caller is sent to the admin's login
before any queue or worker is looked up, so no answer tells it which
workers exist.
"""

import functools

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import include, path, reverse
from django_rq.queues import get_queue_by_index
from django_rq.settings import get_queues_list
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns
from rq.exceptions import NoSuchJobError
from rq.worker import Worker

READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Pages of rq-scheduler, which the service does not run (nor install).
UNUSED = frozenset({"scheduler_jobs"})
# The URL arguments django-rq names a queue (or its connection) by.
QUEUE_ARGUMENTS = ("queue_index", "scheduler_index", "connection_index")


def staff_login(view):
    """The admin's own rule, checked before the guard looks anything up."""

    @functools.wraps(view)
    def logged_in(request, *args, **kwargs):
        user = request.user
        if not (user.is_active and user.is_staff):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return view(request, *args, **kwargs)

    return logged_in


def superuser_writes(view):
    @functools.wraps(view)
    def guarded(request, *args, **kwargs):
        if request.method not in READS and not request.user.is_superuser:
            raise PermissionDenied("only a superuser can change the queues.")
        require_known(**kwargs)
        try:
            return view(request, *args, **kwargs)
        except NoSuchJobError:
            raise Http404("no such job in the queues: it was removed or has expired.") from None

    return guarded


def require_known(**kwargs) -> None:
    """404 for a queue number past the configured queues or a worker that is gone."""
    index = next((kwargs[name] for name in QUEUE_ARGUMENTS if name in kwargs), None)
    if index is not None and index >= len(get_queues_list()):
        raise Http404(f"there is no queue number {index}.")
    if "key" in kwargs:
        connection = get_queue_by_index(index).connection
        try:
            worker = Worker.find_by_key(kwargs["key"], connection=connection)
        except ValueError:  # not a worker's key at all
            worker = None
        if worker is None:
            raise Http404("no such worker: it has stopped or never ran.")


def guarded_urlpatterns():
    """django-rq's URLs, each behind the guard: its statistics (which take a
    token of their own) too, so that no URL here answers a write but to a
    superuser."""
    patterns = get_api_urlpatterns()
    for pattern in patterns:
        pattern.callback = superuser_writes(pattern.callback)
    patterns += get_admin_urlpatterns(view_wrapper=lambda view: staff_login(superuser_writes(view)))
    return [p for p in patterns if p.name not in UNUSED]


urlpatterns = [path("", include((guarded_urlpatterns(), "django_rq")))]
