"""The dashboard's templates say nothing they did not mean to: no template
syntax reaches a page."""

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from jobs.models import JobStatus
from tests.factories import IngestFileFactory, IngestJobFactory

TEMPLATES = settings.BASE_DIR / "templates"


def test_no_one_line_comment_runs_onto_a_second_line():
    # Django's {# ... #} ends with its line: what follows on the next line is
    # printed on the page. Longer comments use {% comment %}.
    unclosed = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in TEMPLATES.rglob("*.html")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "{#" in line and "#}" not in line.split("{#", 1)[1]
    ]
    assert unclosed == []


@pytest.mark.django_db
def test_pages_show_no_template_syntax(user, project):
    job = IngestJobFactory(project=project, status=JobStatus.COMPLETED)
    IngestFileFactory(job=job)
    client = Client()
    client.force_login(user)
    pages = [
        reverse("ingest:project-list"),
        reverse("ingest:project-detail", kwargs={"project_id": project.pk}),
        reverse("ingest:job-detail", kwargs={"project_id": project.pk, "job_id": job.pk}),
        reverse("ingest:document-list", kwargs={"project_id": project.pk}),
    ]
    for page in pages:
        html = client.get(page).content.decode()
        text = re.sub(r"<script.*?</script>", "", html, flags=re.S)
        assert not re.search(r"\{#|#\}|\{%|%\}|\{\{|\}\}", text), page
