"""Dashboard pages: they call selectors and services, like the API."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from ingest import selectors


@login_required
def project_list(request):
    projects = selectors.project_list(user=request.user)
    return render(request, "ingest/project_list.html", {"projects": projects})
