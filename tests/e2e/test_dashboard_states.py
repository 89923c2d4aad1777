"""Every dashboard page in each state a job goes through, at desktop width
and at a phone's: axe-core finds no serious or critical violation, nothing
is cut off, no template syntax shows, and what the page says of the job is
true (file states, failed files, the actions offered, a deleted job's past).

The README's screenshots are taken here, from fixed data, so they show the
dashboard as it is (``docs/screenshots/``; each run writes them again).
"""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from playwright.sync_api import expect

from ingest.models import Document, DocumentSource, IngestJob, Role
from jobs import lifecycle
from jobs.models import JobEvent, JobStatus
from tests.e2e.pages import check_page, login, screenshot, shown_shortened
from tests.factories import (
    IngestFileFactory,
    IngestJobFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = [pytest.mark.e2e]

MB = 1024 * 1024
WARNING = "rgb(154, 91, 0)"  # app.css's --warn
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # fixed, so the screenshots change only with the pages


@pytest.fixture
def site(shared):
    return shared


@pytest.fixture
def ada(db):
    return UserFactory(username="ada")


@pytest.fixture
def reports(ada):
    project = ProjectFactory(name="Annual reports", created_by=ada, created_at=AT)
    MembershipFactory(project=project, user=ada, role=Role.OWNER, created_at=AT)
    MembershipFactory(
        project=project, user=UserFactory(username="grace"), role=Role.VIEWER, created_at=AT
    )
    return project


def a_job(project, name, status, files, *, minutes=0, **fields):
    """A job whose files are ``(name, size in MB, file status)``, its counters
    as a worker would have left them."""
    finished = [f for f in files if f[2] != "pending"]
    job = IngestJobFactory(
        project=project,
        name=name,
        status=status,
        created_at=AT + timedelta(minutes=minutes),
        started_at=AT + timedelta(minutes=minutes, seconds=4),
        items_total=len(files),
        items_done=len(finished),
        items_failed=sum(f[2] == "failed" for f in files),
        bytes_total=sum(int(f[1] * MB) for f in files),
        bytes_done=sum(int(f[1] * MB) for f in finished),
        **fields,
    )
    trail = [("create", "", "queued", 0), ("start", "queued", "running", 4)]
    if status != JobStatus.RUNNING:
        trail.append(("finish", "running", status, 60))
    for action, before, after, seconds in trail:
        JobEvent.objects.create(
            content_type=ContentType.objects.get_for_model(IngestJob),
            job_id=job.pk,
            job_name=name,
            job_scope=str(project.pk),
            action=action,
            from_status=before,
            to_status=after,
            actor=project.created_by if action == "create" else None,
            at=AT + timedelta(minutes=minutes, seconds=seconds),
        )
    for position, (file_name, size, file_status) in enumerate(files):
        file = IngestFileFactory(
            job=job,
            position=position,
            name=file_name,
            size=int(size * MB),
            status=file_status,
            chunks=12 if file_status == "done" else 0,
            error="the PDF has no text layer (a scan?): there is no text to read."
            if file_status == "failed"
            else "",
        )
        if file_status == "done":
            document = Document.objects.create(
                project=project,
                title=file_name,
                sha256=f"{position:064d}"[:64],
                size=48_000,
                chunk_count=12,
                job=job,
                source_file=file,
                created_at=job.created_at,
            )
            DocumentSource.objects.create(document=document, file=file)
    return job


def running(project):
    job = a_job(
        project,
        "Q1 statements",
        JobStatus.RUNNING,
        [
            ("january.pdf", 2.5, "done"),
            ("february.pdf", 2.1, "done"),
            ("march.pdf", 6.0, "pending"),
            ("april.pdf", 3.2, "pending"),
            ("notes.txt", 0.1, "pending"),
        ],
        minutes=30,
    )
    IngestJob.objects.filter(pk=job.pk).update(bytes_done=job.bytes_done + int(2.4 * MB))
    return IngestJob.objects.get(pk=job.pk)


def with_failed_files(project):
    files = [(f"invoice-{n:02d}.pdf", 0.4, "done") for n in range(1, 11)]
    files += [("scan-01.pdf", 1.2, "failed"), ("scan-02.pdf", 1.3, "failed")]
    return a_job(
        project,
        "Invoices",
        JobStatus.COMPLETED,
        files,
        minutes=20,
        finished_at=AT + timedelta(minutes=21),
    )


def cancelled(project):
    return a_job(
        project,
        "Board minutes",
        JobStatus.CANCELLED,
        [("2024.docx", 0.3, "done"), ("2025.docx", 0.3, "pending"), ("2026.docx", 0.2, "pending")],
        minutes=10,
        finished_at=AT + timedelta(minutes=11),
        cancel_requested_at=AT + timedelta(minutes=11),
        result={"partial": True},
    )


def auditor(username="hedy"):
    """An auditor, as ``manage.py grant_auditor`` makes one."""
    group, _ = Group.objects.get_or_create(name="auditors")
    views = Permission.objects.filter(
        codename__startswith="view_", content_type__app_label__in=["ingest", "jobs"]
    )
    group.permissions.add(*views)
    user = UserFactory(username=username)
    call_command("grant_auditor", username, stdout=io.StringIO())
    return user


def visit(page, url: str, where: str) -> None:
    page.goto(url)
    expect(page.locator("main")).to_be_visible()
    live = page.locator("[data-live-text]")
    if live.count():
        expect(live.first).to_have_text("Live")
    check_page(page, where)


def test_the_empty_state(sized_page, screen, site, ada):
    page = sized_page
    login(page, site, ada)
    check_page(page, "the project list with no project")
    page.get_by_label("Project name").fill("Annual reports")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_text("No jobs yet. Upload files above to start one.")).to_be_visible()
    check_page(page, "an empty project")
    if screen == "desktop":
        screenshot(page, "empty-project")
    page.get_by_role("link", name="Documents").click()
    expect(page.get_by_text("No documents yet.")).to_be_visible()
    check_page(page, "an empty document list")
    page.get_by_role("link", name="Members").click()
    check_page(page, "the members page")


def test_a_running_job_shows_each_files_state(sized_page, screen, site, ada, reports):
    page = sized_page
    job = running(reports)
    login(page, site, ada)
    visit(page, f"{site}/projects/{reports.pk}/", "a project with a running job")
    row = page.locator(f"#job-{job.pk}")
    expect(row.locator("[data-status-badge]")).to_have_text("Running")
    expect(row.get_by_role("button", name="Cancel Q1 statements")).to_be_enabled()
    expect(row.get_by_role("button", name="Retry Q1 statements")).to_have_count(0)

    visit(page, f"{site}/projects/{reports.pk}/jobs/{job.pk}/", "a running job's page")
    states = page.locator("[data-file-state]")
    expect(states).to_have_text(["Done", "Done", "Reading", "Waiting", "Waiting"])
    expect(page.locator("[data-reading-text]")).to_have_text("2.4\u00a0MB of 6.0\u00a0MB")
    expect(page.locator(".file-not_reached")).to_have_count(0)  # only once the job has ended
    screenshot(page, f"job-running-{screen}")


def test_failed_files_are_not_hidden_behind_a_green_badge(sized_page, screen, site, ada, reports):
    page = sized_page
    job = with_failed_files(reports)
    login(page, site, ada)
    visit(page, f"{site}/projects/{reports.pk}/", "a project with a job whose files failed")
    row = page.locator(f"#job-{job.pk}")
    badge = row.locator("[data-status-badge]")
    expect(badge).to_have_text("Completed")
    expect(badge).to_have_class("badge badge-completed badge-with-failures")
    assert badge.evaluate("el => getComputedStyle(el).color") == WARNING  # not green
    expect(row.locator("[data-progress-failed]")).to_have_class("failed-count")
    expect(row.locator("[data-progress-files]")).to_have_text("10 of 12 files, 2 failed")
    # The list offers what the job's page offers: one rule decides both.
    expect(row.get_by_role("button", name="Retry Invoices")).to_be_visible()
    if screen == "desktop":
        screenshot(page, "project-failed-files")

    visit(page, f"{site}/projects/{reports.pk}/jobs/{job.pk}/", "a job whose files failed")
    expect(page.locator(".job-panel [data-progress-files]")).to_have_text(
        "10 of 12 files, 2 failed"
    )
    badge = page.locator(".job-panel [data-status-badge]")
    expect(badge).to_have_text("Completed")
    expect(badge).to_have_attribute("title", "2 files failed")
    assert badge.evaluate("el => getComputedStyle(el).color") == WARNING
    expect(page.locator(".file-failed")).to_have_count(2)
    expect(page.get_by_role("button", name="Retry Invoices")).to_be_visible()


def test_a_cancelled_job_keeps_what_it_finished(sized_page, screen, site, ada, reports):
    page = sized_page
    job = cancelled(reports)
    login(page, site, ada)
    visit(page, f"{site}/projects/{reports.pk}/jobs/{job.pk}/", "a cancelled job's page")
    expect(page.locator("[data-file-state]")).to_have_text(["Done", "Not reached", "Not reached"])
    expect(page.locator(".job-panel .pill")).to_have_text("Partial result")
    page.get_by_role("link", name="2024.docx").click()
    check_page(page, "a document's page")
    page.goto(f"{site}/projects/{reports.pk}/documents/")
    check_page(page, "a document list")
    if screen == "desktop":
        page.goto(f"{site}/projects/{reports.pk}/jobs/{job.pk}/")
        expect(page.locator("[data-live-text]").first).to_have_text("Live")
        screenshot(page, "job-cancelled")


def test_auditors_see_a_deleted_job_as_what_it_was(sized_page, screen, site, ada, reports):
    page = sized_page
    job = with_failed_files(reports)
    lifecycle.soft_delete(job, actor=ada, reason="wrong batch")
    gone = AT + timedelta(hours=2)  # fixed, as the rest (the screenshot)
    IngestJob.all_objects.filter(pk=job.pk).update(deleted_at=gone)
    JobEvent.objects.filter(job_id=job.pk, action="delete").update(at=gone)
    hedy = auditor()
    login(page, site, hedy)
    visit(page, f"{site}/projects/{reports.pk}/jobs/{job.pk}/", "a deleted job, for an auditor")
    expect(page.locator("[data-status-badge]")).to_have_text("Deleted (had completed)")
    expect(page.locator("[data-deleted]")).to_contain_text("by ada, when it had completed")
    expect(page.locator("main button")).to_have_count(0)  # read only
    if screen == "desktop":
        screenshot(page, "job-deleted-auditor")

    # The admin says it too (Django's own pages: not held to axe here).
    page.goto(f"{site}/admin/ingest/ingestjob/?deleted=yes")
    expect(page.get_by_role("cell", name="Deleted (had completed)")).to_be_visible()
    page.get_by_role("link", name="Invoices").click()
    expect(page.locator(".field-state")).to_contain_text("Deleted (had completed)")
    expect(page.locator(".field-purge_at")).to_contain_text("Purge due")

    # Members of the project do not see it.
    page.context.clear_cookies()
    login(page, site, ada)
    response = page.goto(f"{site}/projects/{reports.pk}/jobs/{job.pk}/")
    assert response.status == 404


def job_page(project, job) -> str:
    return f"/projects/{project.pk}/jobs/{job.pk}/"


def test_retry_is_offered_only_while_the_server_would_take_it(sized_page, site, ada, reports):
    """Not once its uploads were removed, not once it was retried: in the list
    and on its page alike, and nothing offered is refused."""
    page = sized_page
    finished = {"finished_at": AT + timedelta(minutes=41)}
    scans = a_job(
        reports,
        "Scans",
        JobStatus.COMPLETED,
        [("letters.pdf", 0.2, "done"), ("fax.pdf", 0.3, "failed")],
        minutes=40,
        **finished,
    )
    old = a_job(reports, "Old faxes", JobStatus.FAILED, [("fax-1.pdf", 0.2, "failed")], **finished)
    refused = []
    page.on("response", lambda r: refused.append(r.url) if r.status >= 400 else None)
    login(page, site, ada)
    visit(page, f"{site}/projects/{reports.pk}/", "a project with jobs to retry")
    for job in (scans, old):
        retry = page.locator(f"#job-{job.pk}").get_by_role("button", name=f"Retry {job.name}")
        expect(retry).to_be_enabled()

    # A cleanup removes the uploads a retry would read: Retry goes at once.
    visit(page, site + job_page(reports, old), "a failed job's page")
    panel = page.locator("#job-panel")
    expect(panel.get_by_role("button", name="Retry Old faxes", exact=True)).to_be_enabled()
    panel.get_by_role("button", name="Remove stored files…").click()
    dialog = page.locator("#cleanup-dialog")
    expect(dialog).to_contain_text("without its uploads it can no longer be retried")
    dialog.get_by_role("button", name="Remove files").click()
    expect(dialog.locator("[data-cleanup-result]")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(panel.get_by_role("button", name="Retry Old faxes", exact=True)).to_have_count(0)
    expect(panel.get_by_role("button", name="Delete Old faxes", exact=True)).to_be_enabled()
    check_page(page, "a job whose uploads were removed")

    # Retried once, from the list: neither the list nor its page offers it again.
    visit(page, f"{site}/projects/{reports.pk}/", "the project after a cleanup")
    expect(
        page.locator(f"#job-{old.pk}").get_by_role("button", name="Retry Old faxes")
    ).to_have_count(0)
    row = page.locator(f"#job-{scans.pk}")
    row.get_by_role("button", name="Retry Scans", exact=True).click()
    page.locator("#retry-dialog").get_by_role("button", name="Retry job").click()
    expect(page.locator("tr.job-row", has_text="Retry of Scans")).to_have_count(1)
    expect(row.get_by_role("button", name="Retry Scans", exact=True)).to_have_count(0)
    check_page(page, "the project after a retry")
    visit(page, site + job_page(reports, scans), "a retried job's page")
    panel = page.locator("#job-panel")
    expect(panel.get_by_role("button", name="Retry Scans", exact=True)).to_have_count(0)
    expect(panel.get_by_role("button", name="Remove stored files…")).to_be_enabled()
    assert refused == []
    retry = IngestJob.objects.get(retry_of=scans)
    assert [f.name for f in retry.files.all()] == ["fax.pdf"]


def test_long_names_end_in_an_ellipsis_and_keep_the_whole_name_in_a_tooltip(
    sized_page, screen, site, ada, reports
):
    page = sized_page
    job_name = ("Scanned correspondence of the northern harbour office " * 4)[:200]
    file_name = ("letter to the harbour master about the lantern on the pier " * 4)[:236] + ".pdf"
    job = a_job(
        reports,
        job_name,
        JobStatus.COMPLETED,
        [(file_name, 0.2, "done"), ("short.pdf", 0.1, "done")],
        finished_at=AT + timedelta(minutes=1),
    )
    login(page, site, ada)
    visit(page, f"{site}/projects/{reports.pk}/", "a project with a long job name")
    link = page.locator(f"#job-{job.pk} a.strong")
    expect(link).to_have_attribute("title", job_name)
    shown_shortened(link, screen)

    visit(page, site + job_page(reports, job), "a job with long names")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_attribute("title", job_name)
    shown_shortened(heading, screen)
    crumb = page.locator('.crumbs [aria-current="page"]')
    expect(crumb).to_have_attribute("title", job_name)
    shown_shortened(crumb, screen)
    name = page.locator(".file-row .clip", has_text="letter to the harbour master")
    expect(name).to_have_attribute("title", file_name)
    shown_shortened(name, screen)


POST_FORM = """([action, token]) => {
  const form = document.createElement("form");
  form.method = "post";
  form.action = action;
  form.innerHTML = '<input type="hidden" name="csrfmiddlewaretoken">';
  form.firstChild.value = token;
  document.body.append(form);
  form.submit();
}"""


def test_every_other_page_and_dialog_passes_the_checks(sized_page, screen, site, ada, reports):
    """The pages the states above do not reach: the login page, a refusal's
    page, a zip's members, a search, and the cancel and delete dialogs. (The site runs with
    DEBUG, for its static files: a 404 is Django's own page here.)"""
    page = sized_page
    job = running(reports)
    archive = a_job(
        reports,
        "Archive",
        JobStatus.COMPLETED,
        [],
        finished_at=AT + timedelta(minutes=1),
    )
    IngestFileFactory(
        job=archive,
        position=0,
        name="bundle.zip",
        kind="zip",
        status="done",
        members=[{"name": f"letters/{n:03d}.txt", "status": "done"} for n in range(25)],
    )
    page.goto(f"{site}/login/")
    check_page(page, "the login page")
    login(page, site, ada)

    visit(page, site + job_page(reports, archive), "a job with a zip")
    # A form sent without the page's script (no htmx) and refused: a page of
    # its own says so, with a way back.
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    page.evaluate(POST_FORM, [job_page(reports, archive) + "cancel/", token])
    expect(page.get_by_role("heading", name="That was not done")).to_be_visible()
    expect(page.locator(".alert-error")).to_contain_text("completed")
    check_page(page, "a refusal without the page's script")
    expect(page.get_by_role("link", name="Go back")).to_be_visible()
    visit(page, site + job_page(reports, archive), "a job with a zip")
    page.get_by_role("link", name="All 25 members of bundle.zip").click()
    expect(page.get_by_text("letters/024.txt")).to_be_visible()
    check_page(page, "a zip's members")

    page.goto(f"{site}/projects/{reports.pk}/documents/?q=january")
    expect(page.get_by_role("searchbox")).to_have_value("january")
    check_page(page, "a search")

    visit(page, f"{site}/projects/{reports.pk}/", "a project with a running job")
    page.locator(f"#job-{job.pk}").get_by_role("button", name="Cancel Q1 statements").click()
    expect(page.locator("#cancel-dialog")).to_be_visible()
    check_page(page, "the cancel dialog")
    page.keyboard.press("Escape")
    expect(page.locator("#cancel-dialog")).to_be_hidden()
    page.locator(f"#job-{archive.pk}").get_by_role("button", name="Delete Archive").click()
    expect(page.locator("#delete-dialog")).to_be_visible()
    check_page(page, "the delete dialog")
