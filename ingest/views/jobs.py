"""A project's jobs: creating one from an upload, its page and its row as they
refresh live, and the actions on it (cancel, delete, clean up, retry)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_GET
from django_htmx.http import trigger_client_event

from ingest import (
    actions,
    representation,
    results,
    retention,
    selectors,
    services,
    upload_handlers,
)
from ingest.forms import CancelForm, CleanupForm, UploadForm
from ingest.models import FileStatus, Membership, Role
from ingest.storage import StorageUnavailable
from ingest.views.http import (
    JOB_GONE,
    as_sentence,
    dashboard_refusal,
    done,
    job_or_none,
    job_url,
    moment,
    notice_event,
    page_of,
    project_membership,
    project_url,
    shows_job,
    write_action,
)
from ingest.views.projects import render_project, upload_form
from jobs import lifecycle
from jobs.models import JobStatus

CANNOT_DELETE = "The job is {status}: cancel it first, and delete it once it has stopped."


@write_action
def job_create(request, membership):
    form = upload_form(request.POST)  # reading POST streams the files in
    try:
        upload_handlers.raise_refusal(request)
        job = _create_job(request, membership, form) if form.is_valid() else None
    except (services.InvalidInput, StorageUnavailable) as exc:
        refusal = form_refusal(form, exc)
    else:
        if job is not None:
            return job_created(request, membership, job)
        refusal = services.Refusal(400, "invalid", "")
    if request.htmx:
        # Only the errors go back: the form keeps the files chosen.
        response = render(request, "ingest/_upload_errors.html", {"form": form})
        response.status_code = refusal.status
        return trigger_client_event(response, "ingest:refused", {"gone": None})
    return render_project(request, membership, form, status=refusal.status)


@login_required
@require_GET
def job_upload_outcome(request, project_id):
    """What became of an upload the page was left during (its Idempotency-Key
    in ``key``): a notice naming the job it became; 202 while none is known,
    the server possibly still checking the files; with ``final``, a notice
    that it did not arrive."""
    membership = project_membership(request, project_id)
    key = request.GET.get("key", "")[: services.MAX_IDEMPOTENCY_KEY]
    job = key and selectors.job_for_idempotency_key(
        user=request.user, project=membership.project, key=key
    )
    if job:
        files = f"{job.items_total} file{pluralize(job.items_total)}"
        message = (
            f"Your last upload arrived after you left the page: job “{job.name}” was "
            f"created with {files}; it is {job.get_status_display().lower()}."
        )
        response = render(request, "ingest/_notice.html", {"message": message})
        response["X-Ingest-Job"] = str(job.pk)
        return response
    if not request.GET.get("final"):
        return HttpResponse(status=202)
    message = (
        "Your last upload did not arrive: the page was left before it was sent, "
        "and no job was created from it. Choose the files again."
    )
    return render(request, "ingest/_notice.html", {"message": message, "level": "error"})


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
        # The page's script sends one with each upload, to ask after a reload
        # what became of an upload it did not see the end of.
        idempotency_key=request.headers.get("Idempotency-Key", ""),
    )
    return job


def job_created(request, membership, job):
    files = f"{job.items_total} file{pluralize(job.items_total)}"
    message = f"Job “{job.name}” created with {files}; it is queued."
    response = done(request, message, job=job, action="create", back=project_url(membership))
    if request.htmx:
        response.status_code = 201
    return response


def audit_trail(job, retries: list) -> list:
    """The job's events; one that names another job by its id (a retry's
    "retried as job <id>", "retry of job <id>") gets ``event.linked``, the
    words and that job, so the trail links it while the job is there."""
    named = {f"retried as job {retry.pk}": ("Retried as", retry) for retry in retries}
    if job.retry_of is not None and job.retry_of.deleted_at is None:
        named[f"retry of job {job.retry_of.pk}"] = ("Retry of", job.retry_of)
    events = list(lifecycle.events_for(job))
    for event in events:
        event.linked = named.get(event.reason)
    return events


def job_panel_context(membership: Membership, job) -> dict:
    retries = list(job.retries.order_by("created_at"))
    events = audit_trail(job, retries)
    return {
        "project": membership.project,
        "job": job,
        # A deleted job is shown to auditors only, and changes no more; an
        # auditor who is not a member has no live stream of the project.
        "can_write": membership.can_write and job.deleted_at is None,
        "live": job.deleted_at is None and membership.pk is not None,
        "actions": actions.job_actions(job),
        "status_note": representation.STATUS_NOTES.get(job.status),
        "result": results.RESULT(job),  # as it stands: a file waiting, another being read
        # What the files finished so far add up to: the page's script takes it
        # from the job's live bytes_done to move the bar of the file being read.
        "finished_bytes": sum(f.size for f in job.result_files() if f.status != FileStatus.PENDING),
        "documents": selectors.job_documents(job=job),
        "events": events,
        "deletion": next((e for e in reversed(events) if e.action == "delete"), None),
        "purge_at": retention.purge_at(job),
        # The jobs this one retries and is retried by, linked on its page.
        "retry_of": job.retry_of,
        "retries": retries,
    }


@login_required
@require_GET
def job_detail(request, project_id, job_id):
    membership, job = job_for_page(request, project_id, job_id)
    if request.htmx:
        # The live panel refreshing itself: a job deleted meanwhile says so
        # instead of answering 404.
        if job is None:
            return render(request, "ingest/_job_gone.html", {"project": membership.project})
        return render(request, "ingest/_job_panel.html", job_panel_context(membership, job))
    if job is None:
        raise Http404(JOB_GONE)
    return render(request, "ingest/job_detail.html", job_panel_context(membership, job))


def job_for_page(request, project_id, job_id):
    """The member's view of the job; an auditor's, for any job of any
    project, deleted ones included (read only), as the admin shows them."""
    try:
        membership = project_membership(request, project_id)
    except Http404:
        if not selectors.can_audit(request.user):
            raise
        membership = None
    job = job_or_none(membership, job_id, with_files=True) if membership else None
    if job is None and selectors.can_audit(request.user):
        job = selectors.job_for_audit(project_id=project_id, job_id=job_id)
        if job is not None and membership is None:
            membership = Membership(project=job.project, user=request.user, role=Role.VIEWER)
    if membership is None:
        raise Http404(JOB_GONE)
    return membership, job


@login_required
@require_GET
def file_members(request, project_id, job_id, position):
    """A zip's members or a message's attachments, a page at a time."""
    membership = project_membership(request, project_id)
    job = job_or_none(membership, job_id)
    if job is None:
        raise Http404(JOB_GONE)
    try:
        members = selectors.file_members(job=job, position=position)
    except selectors.NotFound:
        raise Http404("This job has no file there.") from None
    context = {
        "project": membership.project,
        "job": job,
        "file": job.files.get(position=position),
        "members": page_of(request, members),
    }
    return render(request, "ingest/file_members.html", context)


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
    return selectors.job_get(project=membership.project, job_id=job_id, with_files=False)


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
    return done(request, message, job=job, action="cancel", back=job_url(job))


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
        message += f" Auditors can see it until it is purged for good on {moment(purge_at)}."
    target = project_url(membership)
    leave_for = target if shows_job(request, job) else ""
    return done(request, message, job=job, action="delete", back=target, leave_for=leave_for)


@write_action
def job_cleanup(request, membership, job_id):
    job = job_or_refuse(membership, job_id)
    form = CleanupForm(request.POST)
    documents = form.is_valid() and form.cleaned_data["documents"]
    report = services.job_cleanup(job=job, actor=request.user, documents=documents)
    detail = as_sentence(report.detail)
    if not request.htmx:
        return done(request, detail, job=job, action="cleanup", back=job_url(job))
    # The dialog shows the report in place of its question.
    response = render(request, "ingest/_cleanup_result.html", {"detail": detail, "report": report})
    return notice_event(response, job, "cleanup", target="#cleanup-dialog [data-cleanup-result]")


@write_action
def job_retry(request, membership, job_id):
    job = job_or_refuse(membership, job_id)
    retry = services.job_retry(job=job, actor=request.user)
    files = f"{retry.items_total} file{pluralize(retry.items_total)}"
    message = f"Job “{retry.name}” created to retry {files}; it is queued."
    target = job_url(retry)
    leave_for = target if shows_job(request, job) else ""
    return done(request, message, job=job, action="retry", back=target, leave_for=leave_for)
