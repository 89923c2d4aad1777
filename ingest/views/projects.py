"""The projects: the list with its form for a new one, and a project's page
with its jobs and the upload form."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from ingest import selectors, services
from ingest.forms import ProjectForm, UploadForm
from ingest.models import Membership
from ingest.pipeline.kinds import ACCEPT, REFUSED_EXTENSIONS, SUPPORTED
from ingest.views.http import as_sentence, page_of, project_membership
from jobs.models import JobStatus


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request):
    form = ProjectForm(request.POST or None)
    if form.is_bound and form.is_valid():
        try:
            project = services.project_create(user=request.user, name=form.cleaned_data["name"])
        except services.InvalidInput as exc:
            form.add_error("name", as_sentence(exc.sentence(form.fields["name"].label)))
        else:
            messages.success(request, f"Project “{project.name}” created. Upload files to start.")
            return redirect("ingest:project-detail", project_id=project.pk)
    context = {"form": form, "nav_projects": selectors.project_list(user=request.user)}
    return render(
        request, "ingest/project_list.html", context, status=400 if form.is_bound else 200
    )


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
        request,
        selectors.job_list(
            project=membership.project, status=status_filter or None, with_result=True
        ),
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
    return render(request, "ingest/project_detail.html", context, status=status)


@login_required
@require_GET
def project_detail(request, project_id):
    membership = project_membership(request, project_id)
    return render_project(request, membership, upload_form())
