"""A project's documents: the searchable list and a document with its chunks."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from ingest import selectors
from ingest.views.http import page_of, project_membership

CHUNKS_PER_PAGE = 50


@login_required
@require_GET
def document_list(request, project_id):
    membership = project_membership(request, project_id)
    query = selectors.search_query(request.GET.get("q", ""))
    found = selectors.document_list(project=membership.project, q=query, with_job=True)
    documents = page_of(request, found)
    selectors.document_snippets(documents=list(documents), q=query)
    context = {
        "project": membership.project,
        "membership": membership,
        "documents": documents,
        "query": query,
        "extra_query": urlencode({"q": query}) if query else "",
    }
    return render(request, "ingest/document_list.html", context)


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
    return render(request, "ingest/document_detail.html", context)
