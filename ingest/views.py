"""Dashboard pages and actions. Like the API, they translate HTTP into a
selector or service call and back; every write checks the role here, on the
server, whatever the page showed.

Actions answer JSON when the page's script asks for it (``Accept:
application/json``), so it can show a refusal next to the field or in the
dialog; a plain form post gets a redirect with a message instead.
"""

import dataclasses
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ingest import representation, retention, selectors, services, uploads
from ingest.forms import CancelForm, CleanupForm, ProjectForm, UploadForm
from ingest.models import FileStatus, Membership
from ingest.pipeline.kinds import ACCEPT, REFUSED_EXTENSIONS, SUPPORTED
from ingest.storage import StorageUnavailable
from jobs import lifecycle
from jobs.models import JobStatus

PAGE_SIZE = 25
CHUNKS_PER_PAGE = 50
JOB_GONE = "This job no longer exists: it was deleted, or you are not a member of its project."
CANNOT_DELETE = "The job is {status}: cancel it first, and delete it once it has stopped."


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


def page(request, template: str, context: dict, status: int = 200):
    """A full page: the header lists the user's projects."""
    nav_projects = selectors.project_list(user=request.user, with_counts=False)
    return render(request, template, {"nav_projects": nav_projects, **context}, status=status)


def refused(request, membership: Membership, refusal: services.Refusal, errors=None):
    """A refusal in the dashboard's words: JSON for the page's script, else a page."""
    if wants_json(request):
        body = {"detail": refusal.detail, "code": refusal.code}
        if errors:
            body["errors"] = errors
        return JsonResponse(body, status=refusal.status)
    back = next_url(request, project_url(membership))
    context = {"message": refusal.detail, "back": back, "project": membership.project}
    return page(request, "ingest/refused.html", context, status=refusal.status)


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


# --- projects ----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request):
    form = ProjectForm(request.POST or None)
    if form.is_bound and form.is_valid():
        project = services.project_create(user=request.user, name=form.cleaned_data["name"])
        messages.success(request, f"Project “{project.name}” created. Upload files to start.")
        return redirect("ingest:project-detail", project_id=project.pk)
    context = {"form": form, "nav_projects": selectors.project_list(user=request.user)}
    return page(request, "ingest/project_list.html", context, status=400 if form.is_bound else 200)


def upload_form(data=None) -> UploadForm:
    return UploadForm(
        data,
        chunk_size=settings.INGEST_CHUNK_SIZE,
        chunk_overlap=settings.INGEST_CHUNK_OVERLAP,
    )


def upload_limits() -> dict:
    return {
        "max_file_bytes": settings.INGEST_MAX_FILE_BYTES,
        "max_files": settings.INGEST_MAX_FILES,
        "max_total_bytes": settings.INGEST_MAX_TOTAL_BYTES,
        "accept": ACCEPT,
        "refused": ",".join(REFUSED_EXTENSIONS),
        "supported": SUPPORTED,
    }


def render_project(request, membership: Membership, form: UploadForm, status: int = 200):
    status_filter = request.GET.get("status", "")
    if status_filter not in JobStatus.values:
        status_filter = ""
    jobs = page_of(
        request, selectors.job_list(project=membership.project, status=status_filter or None)
    )
    context = {
        "project": membership.project,
        "membership": membership,
        "can_write": membership.can_write,
        "jobs": jobs,
        "status_filter": status_filter,
        "statuses": JobStatus.choices,
        "extra_query": urlencode({"status": status_filter}) if status_filter else "",
        "form": form,
        "limits": upload_limits(),
        # New jobs appear live only where they would be listed: the first,
        # unfiltered page.
        "stream_new": not status_filter and jobs.number == 1,
    }
    return page(request, "ingest/project_detail.html", context, status=status)


@login_required
@require_GET
def project_detail(request, project_id):
    membership = project_membership(request, project_id)
    return render_project(request, membership, upload_form())


# --- jobs ----------------------------------------------------------------------


@write_action
def job_create(request, membership):
    form = upload_form(request.POST)  # reading POST streams the files in
    try:
        uploads.raise_refusal(request)
        job = _create_job(request, membership, form) if form.is_valid() else None
    except (services.InvalidInput, StorageUnavailable) as exc:
        refusal = form_refusal(form, exc)
    else:
        if job is not None:
            return job_created(request, membership, job)
        refusal = services.Refusal(400, "invalid", "")
    if wants_json(request):
        errors = {field: list(errors) for field, errors in form.errors.items()}
        first = next(iter(errors.values()))[0]
        return refused(request, membership, dataclasses.replace(refusal, detail=first), errors)
    return render_project(request, membership, form, status=refusal.status)


def form_refusal(form: UploadForm, exc: Exception) -> services.Refusal:
    """The refusal, shown next to the field it is about, named by its label."""
    refusal = dashboard_refusal(exc)
    field = getattr(exc, "field", "files")
    if field not in form.fields:
        form.add_error(None, refusal.detail)
    elif isinstance(exc, services.InvalidInput):
        form.add_error(field, as_sentence(exc.sentence(form.fields[field].label)))
    else:
        form.add_error(field, refusal.detail)
    return refusal


def _create_job(request, membership, form):
    job, _ = services.job_create(
        project=membership.project,
        user=request.user,
        uploads=request.FILES.getlist("files"),
        name=form.cleaned_data["name"],
        chunk_size=form.cleaned_data["chunk_size"],
        chunk_overlap=form.cleaned_data["chunk_overlap"],
    )
    return job


def job_created(request, membership, job):
    files = f"{job.items_total} file{pluralize(job.items_total)}"
    message = f"Job “{job.name}” created with {files}; it is queued."
    if wants_json(request):
        body = {"detail": message, "id": str(job.pk), "url": job_url(job)}
        return JsonResponse({**body, "row_url": job_url(job, "ingest:job-row")}, status=201)
    messages.success(request, message)
    return redirect(project_url(membership))


def job_panel_context(membership: Membership, job) -> dict:
    return {
        "project": membership.project,
        "job": job,
        "can_write": membership.can_write,
        "status_note": representation.STATUS_NOTES.get(job.status),
        "result": selectors.job_result(job=job),
        "documents": selectors.job_documents(job=job),
        "events": lifecycle.events_for(job),
        # The jobs this one retries and is retried by, linked on its page.
        "retry_of": job.retry_of,
        "retries": list(job.retries.order_by("created_at")),
        "retryable": job.is_terminal
        and job.files.exclude(status__in=[FileStatus.DONE, FileStatus.DUPLICATE]).exists(),
    }


@login_required
@require_GET
def job_detail(request, project_id, job_id):
    membership = project_membership(request, project_id)
    job = job_or_none(membership, job_id, with_files=True)
    if request.htmx:
        # The live panel refreshing itself: a job deleted meanwhile says so
        # instead of answering 404.
        if job is None:
            return render(request, "ingest/_job_gone.html", {"project": membership.project})
        return render(request, "ingest/_job_panel.html", job_panel_context(membership, job))
    if job is None:
        raise Http404(JOB_GONE)
    return page(request, "ingest/job_detail.html", job_panel_context(membership, job))


@login_required
@require_GET
def job_row(request, project_id, job_id):
    """One row of the job list, for live refreshes; empty once the job is gone,
    so the row disappears."""
    membership = project_membership(request, project_id)
    job = job_or_none(membership, job_id)
    if job is None:
        return HttpResponse("")
    context = {"job": job, "project": membership.project, "can_write": membership.can_write}
    return render(request, "ingest/_job_row.html", context)


def job_or_refuse(membership: Membership, job_id):
    return selectors.job_get(project=membership.project, job_id=job_id)


@write_action
def job_cancel(request, membership, job_id):
    job = job_or_refuse(membership, job_id)
    form = CancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    outcome = services.job_cancel(job=job, actor=request.user, reason=reason)
    if outcome.to_status == JobStatus.CANCELLED:
        message = f"Job “{job.name}” cancelled before it started; nothing was processed."
    else:
        message = f"Cancelling “{job.name}”: {representation.STATUS_NOTES[outcome.to_status]}"
    return done(request, message, redirect_to=job_url(job), status=outcome.to_status)


@write_action
def job_delete(request, membership, job_id):
    job = job_or_refuse(membership, job_id)
    try:
        outcome = services.job_delete(job=job, actor=request.user)
    except lifecycle.InvalidTransition as exc:
        # The dashboard offers no forced delete, which the service's sentence suggests.
        message = CANNOT_DELETE.format(status=job.status)
        raise lifecycle.InvalidTransition(job, "delete", message) from exc
    if not outcome:
        raise selectors.NotFound()  # someone else deleted it a moment ago
    message = f"Job “{job.name}” deleted. The documents it produced stay in the project."
    job.refresh_from_db()  # the base manager: found even once deleted
    if purge_at := retention.purge_at(job):
        when = formats.date_format(timezone.localtime(purge_at), "DATETIME_FORMAT")
        message += f" Auditors can see it until it is purged for good on {when}."
    target = project_url(membership)
    return done(request, message, redirect_to=target, redirect=target)


@write_action
def job_cleanup(request, membership, job_id):
    job = job_or_refuse(membership, job_id)
    form = CleanupForm(request.POST)
    documents = form.is_valid() and form.cleaned_data["documents"]
    report = services.job_cleanup(job=job, actor=request.user, documents=documents)
    counts = dataclasses.asdict(report)
    return done(request, as_sentence(report.detail), redirect_to=job_url(job), counts=counts)


@write_action
def job_retry(request, membership, job_id):
    job = job_or_refuse(membership, job_id)
    retry = services.job_retry(job=job, actor=request.user)
    files = f"{retry.items_total} file{pluralize(retry.items_total)}"
    message = f"Job “{retry.name}” created to retry {files}; it is queued."
    target = job_url(retry)
    return done(request, message, redirect_to=target, id=str(retry.pk), url=target)


# --- documents -------------------------------------------------------------------


@login_required
@require_GET
def document_list(request, project_id):
    membership = project_membership(request, project_id)
    query = selectors.search_query(request.GET.get("q", ""))
    documents = page_of(request, selectors.document_list(project=membership.project, q=query))
    selectors.document_snippets(documents=list(documents), q=query)
    context = {
        "project": membership.project,
        "membership": membership,
        "documents": documents,
        "query": query,
        "extra_query": urlencode({"q": query}) if query else "",
    }
    return page(request, "ingest/document_list.html", context)


@login_required
@require_GET
def document_detail(request, project_id, document_id):
    membership = project_membership(request, project_id)
    try:
        document = selectors.document_get(project=membership.project, document_id=document_id)
    except selectors.NotFound:
        raise Http404("No such document in this project.") from None
    context = {
        "project": membership.project,
        "document": document,
        "sources": selectors.document_sources(document=document),
        "chunks": page_of(request, selectors.document_chunks(document=document), CHUNKS_PER_PAGE),
    }
    return page(request, "ingest/document_detail.html", context)
