"""What the dashboard's pages and actions share: the member behind a request,
refusals in words, where to go back to.

Actions posted by htmx (the dialogs, the upload form) answer with a partial
and an ``HX-Trigger`` event the page's script follows (``ingest:done``,
``ingest:refused``); a plain form post gets a redirect with a message instead.
"""

import dataclasses
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from ingest import selectors, services
from ingest.models import Membership

PAGE_SIZE = 25
JOB_GONE = "This job no longer exists: it was deleted, or you are not a member of its project."


def as_sentence(text: str) -> str:
    """The domain's sentences start in lower case, as the API's details do; on
    a page they start with a capital, unless the first word is a name (a
    file's, say) that must stay as it is. Only the first letter changes."""
    first_word = text.split(" ", 1)[0]
    if first_word.isalpha() and first_word.islower():
        return text[:1].upper() + text[1:]
    return text


def moment(value) -> str:
    """A time in a sentence, with its year and zone: ``Jan 6, 2026, 01:50 UTC``.
    Not Django's DATETIME_FORMAT, whose "a.m." ends a sentence with two periods."""
    return formats.date_format(timezone.localtime(value), "M j, Y, H:i T")


def next_url(request, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if allowed else default


def project_membership(request, project_id) -> Membership:
    try:
        return selectors.membership_get(user=request.user, project_id=project_id)
    except selectors.NotFound:
        raise Http404(services.NOT_A_MEMBER) from None


def job_or_none(membership: Membership, job_id, *, with_files: bool = False):
    try:
        return selectors.job_get(project=membership.project, job_id=job_id, with_files=with_files)
    except selectors.NotFound:
        return None


def page_of(request, items, per_page: int = PAGE_SIZE):
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def refused(request, refusal: services.Refusal, *, back: str, job_id=None):
    """A refusal in the dashboard's words: for htmx, a partial where the form
    shows its errors; else a page with a way back."""
    if request.htmx:
        response = render(request, "ingest/_refusal.html", {"message": refusal.detail})
        response.status_code = refusal.status
        gone = {"job": str(job_id)} if refusal.status == 404 and job_id else None
        return trigger_client_event(response, "ingest:refused", {"gone": gone})
    context = {"message": refusal.detail, "back": next_url(request, back)}
    return render(request, "ingest/refused.html", context, status=refusal.status)


def dashboard_refusal(exc: Exception) -> services.Refusal | None:
    """The shared table's refusal, worded for a page. Inside an action the
    project is known, so what is not found is the job."""
    refusal = services.refusal_for(exc)
    if refusal is None:
        return None
    detail = JOB_GONE if isinstance(exc, selectors.NotFound) else as_sentence(refusal.detail)
    return dataclasses.replace(refusal, detail=detail)


def write_action(view):
    """POST only, signed in, a member whose role may write; refusals in words."""

    @wraps(view)
    def wrapper(request, project_id, **kwargs):
        try:
            membership = project_membership(request, project_id)
        except Http404:
            if not request.htmx:
                raise
            not_member = services.Refusal(404, "not_found", services.NOT_A_MEMBER)
            return refused(request, not_member, back="/")
        try:
            if not membership.can_write:
                raise services.PermissionRefused(services.VIEWERS_READ_ONLY)
            return view(request, membership, **kwargs)
        except Exception as exc:
            refusal = dashboard_refusal(exc)
            if refusal is None:
                raise
            back = project_url(membership)
            return refused(request, refusal, back=back, job_id=kwargs.get("job_id"))

    return login_required(require_POST(wrapper))


def done(request, message: str, *, job, action: str, back: str, leave_for: str = ""):
    """An action done: for htmx, the notice in the page's notices and an
    ``ingest:done`` event naming the job and the action, or, where the page
    shows what is no longer there (``leave_for``), the browser sent on with the
    notice. A plain form post goes back with the notice."""
    if not request.htmx or leave_for:
        messages.success(request, message)
    if not request.htmx:
        return redirect(next_url(request, back))
    if leave_for:
        return HttpResponseClientRedirect(leave_for)
    response = render(request, "ingest/_notice.html", {"message": message})
    return notice_event(response, job, action)


def notice_event(response, job, action: str, target: str = "#notices"):
    response = retarget(reswap(response, "innerHTML"), target)
    return trigger_client_event(response, "ingest:done", {"job": str(job.pk), "action": action})


def shows_job(request, job) -> bool:
    """Whether the action was asked from the job's own page."""
    return next_url(request, "") == job_url(job)


def project_url(membership: Membership) -> str:
    return reverse("ingest:project-detail", kwargs={"project_id": membership.project_id})


def job_url(job, name: str = "ingest:job-detail") -> str:
    return reverse(name, kwargs={"project_id": job.project_id, "job_id": job.pk})
