"""A newcomer's first hour, in a real browser at desktop width and at a
phone's (390 px): words written for people, every action on screen, the
upload form, leaving mid-upload, unique project names and the members page.

The states are built in the database; the site is one web process for the
module (``shared_site``), and no worker runs: what is checked is what the
pages say and do."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ingest.models import IngestJob, Role
from jobs.models import JobStatus
from tests.e2e.pages import check_page, login, shown_shortened
from tests.factories import IngestFileFactory, IngestJobFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e]

MB_1_5 = 1_600_000  # bytes: 1.5 MB as filesizeformat writes it


@pytest.fixture
def site(shared):
    return shared


def finished_job(project, name="Batch", status=JobStatus.COMPLETED, file_status="done", **file):
    job = IngestJobFactory(
        project=project, name=name, status=status, finished_at=timezone.now(), items_total=1
    )
    IngestFileFactory(job=job, status=file_status, **file)
    return job


def job_page(site, job) -> str:
    return f"{site}/projects/{job.project_id}/jobs/{job.pk}/"


def test_sizes_and_times_read_as_people_read_them(sized_page, site, user, project):
    page = sized_page
    job = finished_job(project, content=b"x" * MB_1_5)
    login(page, site, user)
    page.goto(job_page(site, job))

    page.get_by_role("button", name="Remove stored files…").click()
    dialog = page.locator("#cleanup-dialog")
    dialog.get_by_role("button", name="Remove files").click()
    expect(dialog.locator('[data-fill="cleanup-detail"]')).to_contain_text("(1.5 MB freed)")
    expect(dialog.locator('[data-fill="cleanup-counts"]')).to_contain_text("Space freed: 1.5 MB")
    check_page(page, "the cleanup's report")
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_text(re.compile(r"^1\.5 MB freed, chunks removed"))).to_be_visible()
    assert str(MB_1_5) not in page.locator("main").inner_text()

    page.get_by_role("button", name=f"Delete {job.name}").click()
    page.locator("#delete-dialog").get_by_role("button", name="Delete job").click()
    notice = page.locator("#notices .notice")
    expect(notice).to_contain_text("Auditors can see it until it is purged for good on")
    when = re.search(r"purged for good on (.*)$", notice.inner_text())[1]
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d\d:\d\d UTC\.", when), when


def test_a_retry_is_linked_from_the_audit_trail_both_ways(sized_page, site, user, project):
    page = sized_page
    failed = finished_job(project, status=JobStatus.FAILED, file_status="failed")
    login(page, site, user)
    page.goto(job_page(site, failed))
    page.get_by_role("button", name="Retry Batch").click()
    page.locator("#retry-dialog").get_by_role("button", name="Retry job").click()
    expect(page.get_by_role("heading", name="Retry of Batch")).to_be_visible()
    retry = IngestJob.objects.get(retry_of=failed)

    trail = page.locator("section", has=page.get_by_role("heading", name="Audit trail"))
    # Followed by its address: the queued retry's panel refreshes itself as
    # its live events come, and a click can land on the panel it replaces.
    back = trail.get_by_role("link", name="Batch", exact=True)
    expect(back).to_have_attribute("href", f"/projects/{project.pk}/jobs/{failed.pk}/")
    page.goto(site + back.get_attribute("href"))
    expect(page.get_by_role("heading", name="Batch", exact=True)).to_be_visible()
    trail = page.locator("section", has=page.get_by_role("heading", name="Audit trail"))
    expect(trail.get_by_role("link", name="Retry of Batch")).to_have_attribute(
        "href", f"/projects/{project.pk}/jobs/{retry.pk}/"
    )
    expect(trail).not_to_contain_text(str(retry.pk))
    retried_as = page.locator("dd", has=page.locator("[data-retried-as]"))
    assert re.search(r"\(queued, [A-Z][a-z]{2} \d+, [\d:]+\)$", retried_as.inner_text())
    check_page(page, "a retried job's page")


def test_every_action_of_a_row_stays_on_screen(sized_page, site, user, project):
    page = sized_page
    finished_job(project, name="Half done", status=JobStatus.FAILED, file_status="failed")
    login(page, site, user)
    page.goto(f"{site}/projects/{project.pk}/")
    row = page.locator("tr.job-row", has_text="Half done")
    # The window scrolled to the row, and only the window: a table scrolled
    # sideways would hide a clipped button's clipping.
    row.evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + scrollY - 80)")
    for action in ("Cancel", "Delete", "Retry"):
        expect(row.get_by_role("button", name=f"{action} Half done")).to_be_in_viewport(ratio=1)
    check_page(page, "a project with a failed job")
    row.get_by_role("button", name="Retry Half done").click()
    expect(page.locator("#retry-dialog")).to_be_visible()
    check_page(page, "the retry dialog")


def test_a_bad_file_is_said_once_and_removed_alone(
    sized_page, screen, site, user, project, tmp_path
):
    page = sized_page
    folder = tmp_path / "to-upload"
    folder.mkdir()
    long_name = ("quarterly figures for the northern region " * 6)[:245] + ".txt"
    for name, content in [
        ("good.txt", b"Some words.\n"),
        ("picture.png", b"\x89PNG"),
        (long_name, b"More words.\n"),
    ]:
        (folder / name).write_bytes(content)
    login(page, site, user)
    page.goto(f"{site}/projects/{project.pk}/")

    page.get_by_label("Files", exact=True).set_input_files(
        [folder / long_name, folder / "good.txt", folder / "picture.png"]
    )
    files = page.locator("[data-file-list] li:not(.file-summary)")
    expect(files).to_have_count(3)
    error = page.locator('[data-error-for="files"]')
    expect(error).to_have_text("1 file cannot be sent: remove it from the list below.")
    form = page.locator("#upload-form")
    assert form.inner_text().count(".png files are not accepted") == 1
    long_item = files.filter(has_text="quarterly figures").locator(".file-name")
    expect(long_item).to_have_attribute("title", long_name)
    shown_shortened(long_item, screen)
    check_page(page, "the upload form with a refused file")

    page.get_by_role("button", name="Remove picture.png").click()
    expect(files).to_have_count(2)
    expect(error).to_have_text("")
    expect(page.get_by_role("button", name="Remove good.txt")).to_be_focused()
    page.get_by_role("button", name="Start ingest").click()

    job = page.locator("tr.job-row").first
    link = job.locator("a.strong")
    expect(link).to_have_attribute("title", re.compile(r"^quarterly figures.*… and 1 more$"))
    created = IngestJob.objects.get()
    assert len(created.name) <= 200 and "…" in created.name
    shown_shortened(link, screen)
    check_page(page, "the project page with a long job name")


def test_leaving_mid_upload_asks_first_and_the_page_then_says_what_became_of_it(
    sized_page, site, user, project, tmp_path
):
    page = sized_page
    upload = tmp_path / "slow.txt"
    upload.write_bytes(b"Words that take a while to check.\n" * 1000)
    # The server's answer is held in the browser (Chromium's Fetch domain, at
    # the response stage): the job is created, the page is still "checking".
    cdp = page.context.new_cdp_session(page)
    held = []
    cdp.on("Fetch.requestPaused", lambda event: held.append(event))
    pattern = {"urlPattern": "*/jobs/new/", "requestStage": "Response"}
    cdp.send("Fetch.enable", {"patterns": [pattern]})
    login(page, site, user)
    page.goto(f"{site}/projects/{project.pk}/")
    page.get_by_label("Files", exact=True).set_input_files([upload])
    page.get_by_role("button", name="Start ingest").click()
    expect(page.locator("[data-upload-progress]")).to_be_visible()
    while not held:
        page.wait_for_timeout(50)
    assert held[0]["responseStatusCode"] == 201

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.type), dialog.accept()))
    page.reload()
    assert asked == ["beforeunload"]
    cdp.send("Fetch.disable")
    expect(page.locator("#notices")).to_contain_text(
        "Your last upload arrived after you left the page: job “slow.txt” was created with 1 file"
    )
    expect(page.locator("tr.job-row", has_text="slow.txt")).to_have_count(1)
    check_page(page, "the project page after an upload left mid-way")
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.evaluate("window.sameDocument = true")
    page.reload()  # nothing on its way now: no question, and the notice said once
    expect(page.locator("#notices")).not_to_contain_text("Your last upload")
    assert page.evaluate("window.sameDocument") is None  # the reload happened
    assert asked == ["beforeunload"]


def test_a_project_name_already_taken_in_any_case_is_refused(sized_page, site, user):
    page = sized_page
    ProjectFactory(name="Annual Reports", created_by=UserFactory())
    login(page, site, user)
    page.get_by_label("Project name").fill("annual REPORTS")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator('[data-error-for="name"]')).to_have_text(
        "A project called “Annual Reports” already exists (names are unique, whatever their "
        "case); choose another name."
    )
    check_page(page, "the project list with a refused name")


def test_an_owner_adds_changes_and_removes_members(sized_page, site, user, project):
    page = sized_page
    UserFactory(username="alice")
    login(page, site, user)
    page.goto(f"{site}/projects/{project.pk}/")
    page.get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    check_page(page, "the members page")

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator("#notices")).to_have_text("alice added as viewer.")
    page.get_by_label("Role of alice", exact=True).select_option("member")
    page.get_by_role("button", name="Change the role of alice").click()
    expect(page.locator("#notices")).to_have_text("alice is now member.")
    assert project.memberships.get(user__username="alice").role == Role.MEMBER

    page.get_by_role("button", name="Remove alice").click()
    dialog = page.locator("#remove-member-dialog")
    expect(dialog).to_contain_text("They lose access to the project's jobs and documents")
    check_page(page, "the remove dialog")
    dialog.get_by_role("button", name="Keep them").click()
    expect(page.get_by_role("button", name="Remove alice")).to_be_focused()
    page.get_by_role("button", name="Remove alice").click()
    dialog.get_by_role("button", name="Remove", exact=True).click()
    expect(page.locator("#notices")).to_have_text(f"alice removed from “{project.name}”.")
    assert not project.memberships.filter(user__username="alice").exists()


def test_a_viewer_sees_the_members_and_no_way_to_change_them(sized_page, site, project):
    page = sized_page
    viewer = UserFactory()
    project.memberships.create(user=viewer, role=Role.VIEWER)
    login(page, site, viewer)
    page.goto(f"{site}/projects/{project.pk}/members/")
    expect(page.get_by_role("cell", name=viewer.username + " (you)")).to_be_visible()
    expect(page.locator("main select, main button[data-open-dialog]")).to_have_count(0)
    expect(page.get_by_text("Only the project's owners add and remove members")).to_be_visible()
    check_page(page, "the members page for a viewer")


def test_a_file_the_server_refuses_is_said_once_and_removed_alone(
    sized_page, site, user, project, tmp_path
):
    """A file the page cannot judge by its name (a .txt that is not text):
    the server's refusal names it once, and removing it sends the rest."""
    page = sized_page
    fake, good = tmp_path / "fake.txt", tmp_path / "good.txt"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    good.write_bytes(b"Fine words.\n")
    login(page, site, user)
    page.goto(f"{site}/projects/{project.pk}/")
    page.get_by_label("Files", exact=True).set_input_files([good, fake])
    page.get_by_role("button", name="Start ingest").click()
    refusal = "fake.txt is named .txt but its content is not text."
    form = page.locator("#upload-form")
    expect(form).to_contain_text(refusal)
    assert page.locator("body").inner_text().count(refusal) == 1
    expect(page.locator("tr.job-row")).to_have_count(0)
    check_page(page, "the upload form with a file the server refused")

    page.get_by_role("button", name="Remove fake.txt").click()
    expect(form).not_to_contain_text(refusal)
    page.get_by_role("button", name="Start ingest").click()
    expect(page.locator("tr.job-row", has_text="good.txt")).to_have_count(1)
    assert [f.name for f in IngestJob.objects.get().files.all()] == ["good.txt"]
