"""What the dashboard's pages and actions share: the member behind a request,
refusals in words, where to go back to.

Actions answer JSON when the page's script asks for it (``Accept:
application/json``), so it can show a refusal next to the field or in the
dialog; a plain form post gets a redirect with a message instead.
"""

import dataclasses
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

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


def wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


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


def refused(request, membership: Membership, refusal: services.Refusal, errors=None):
    """A refusal in the dashboard's words: JSON for the page's script, else a page."""
    if wants_json(request):
        body = {"detail": refusal.detail, "code": refusal.code}
        if errors:
            body["errors"] = errors
        return JsonResponse(body, status=refusal.status)
    back = next_url(request, project_url(membership))
    context = {"message": refusal.detail, "back": back, "project": membership.project}
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
            if wants_json(request):
                return JsonResponse(
                    {"detail": services.NOT_A_MEMBER, "code": "not_found"}, status=404
                )
            raise
        try:
            if not membership.can_write:
                raise services.PermissionRefused(services.VIEWERS_READ_ONLY)
            return view(request, membership, **kwargs)
        except Exception as exc:
            refusal = dashboard_refusal(exc)
            if refusal is None:
                raise
            return refused(request, membership, refusal)

    return login_required(require_POST(wrapper))


def done(request, message: str, *, redirect_to: str, **data):
    if wants_json(request):
        return JsonResponse({"detail": message, **data})
    messages.success(request, message)
    return redirect(next_url(request, redirect_to))


def project_url(membership: Membership) -> str:
    return reverse("ingest:project-detail", kwargs={"project_id": membership.project_id})


def job_url(job, name: str = "ingest:job-detail") -> str:
    return reverse(name, kwargs={"project_id": job.project_id, "job_id": job.pk})
