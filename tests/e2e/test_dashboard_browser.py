"""The dashboard in a real browser (chromium through Playwright) against a
live uvicorn and a real worker: upload and watch, cancel through the dialog,
delete, the viewer's read-only page, and the polling fallback."""

import os
import re
import signal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ingest.models import IngestJob, Role
from jobs import lifecycle
from jobs.models import JobStatus
from tests.conftest import member, wait_for
from tests.e2e.helpers import prose
from tests.factories import IngestJobFactory

pytestmark = [pytest.mark.e2e]

SLOW = 60_000  # ms: a loaded machine may take a while to ingest


def login(page, site, user) -> None:
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("password")
    page.locator("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()


def open_project(page, site, project) -> None:
    page.goto(f"{site}/projects/{project.pk}/")
    expect(page.get_by_role("heading", name=project.name)).to_be_visible()


def write(tmp_path, name: str, content: bytes):
    path = tmp_path / "to-upload" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return path


def drop_file(page, selector: str, name: str, text: str) -> None:
    """Drop a file on ``selector`` as a drag from the desktop would."""
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: "text/markdown" }));
            return transfer;
        }""",
        [name, text],
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def fill_options(page, *, name: str, chunk_size: str = "", chunk_overlap: str = "") -> None:
    page.locator("[data-options] summary").click()
    page.get_by_label("Job name").fill(name)
    page.get_by_label("Chunk size").fill(chunk_size)
    page.get_by_label("Chunk overlap").fill(chunk_overlap)


def job_row(page, name: str):
    return page.locator("tr.job-row", has_text=name)


def test_upload_progress_reaches_100_percent_and_completed_without_reload(
    page, site, user, project, start_worker, tmp_path
):
    start_worker()
    files = [write(tmp_path, f"part{n}.txt", prose(n, 300_000)) for n in range(2)]
    login(page, site, user)
    open_project(page, site, project)
    expect(page.locator("#jobs [data-live-text]")).to_have_text("Live")
    page.evaluate("window.sameDocument = true")

    page.get_by_label("Files", exact=True).set_input_files(files)
    drop_file(page, "[data-dropzone]", "dropped.md", "# Dropped\n\nMarkdown dropped on the box.")
    expect(page.locator("[data-file-list] li")).to_have_count(4)  # three files and a total
    fill_options(page, name="Progress job")
    page.get_by_role("button", name="Start ingest").click()

    row = job_row(page, "Progress job")
    expect(row.locator("[data-status-badge]")).to_have_text("Completed", timeout=SLOW)
    expect(row.locator("[data-progress-percent]")).to_have_text("100%")
    expect(row.locator("[data-progress-files]")).to_have_text("3 of 3 files")
    expect(row.locator("[data-progress-fill]")).to_have_attribute(
        "style", re.compile("width: 100%")
    )
    expect(row.get_by_role("button", name="Delete Progress job")).to_be_enabled()
    expect(row.get_by_role("button", name="Cancel Progress job")).to_be_disabled()
    assert page.evaluate("window.sameDocument") is True  # no reload happened
    job = IngestJob.objects.get(name="Progress job")
    assert (job.status, job.items_done, job.items_total) == (JobStatus.COMPLETED, 3, 3)


def test_cancel_confirmed_in_the_dialog_shows_cancelling_then_cancelled_with_partial_result(
    page, site, user, project, start_worker, tmp_path, artifacts
):
    # Each file is unique by its first line; chunks of 50 make the job long.
    block = prose(7, 200_000)
    files = [
        write(tmp_path, f"long{n:02d}.txt", f"file {n}\n".encode() + block * 10) for n in range(20)
    ]
    worker = start_worker()
    login(page, site, user)
    open_project(page, site, project)
    page.get_by_label("Files", exact=True).set_input_files(files)
    fill_options(page, name="Long job", chunk_size="50", chunk_overlap="0")
    page.get_by_role("button", name="Start ingest").click()

    row = job_row(page, "Long job")
    badge = row.locator("[data-status-badge]")
    expect(badge).to_have_text("Running", timeout=SLOW)
    job = wait_for(
        lambda: IngestJob.objects.filter(name="Long job", items_done__gte=1).first(),
        timeout=60,
        message="a first file done",
    )
    # Freeze the work horse, as a slow step would, so each state stays on
    # screen long enough to be seen; it resumes below.
    horse = worker.freeze_horse()
    try:
        expect(row.locator("[data-progress-percent]")).not_to_have_text("0%")
        page.screenshot(path=artifacts / "project-page-running-job.png", full_page=True)

        cancel_posts = []
        page.on("request", lambda r: cancel_posts.append(r.url) if "/cancel/" in r.url else None)
        cancel = row.get_by_role("button", name="Cancel Long job")
        dialog = page.locator("#cancel-dialog")
        cancel.click()
        expect(dialog).to_be_visible()
        expect(dialog.locator('[data-fill="kept"]')).to_contain_text("of 20 files finished so far")
        expect(dialog.locator('[data-fill="dropped"]')).to_contain_text("rolled back whole")
        page.screenshot(path=artifacts / "cancel-dialog.png")

        # Dismissing cancels nothing: by the button, and by Escape from the keyboard.
        dialog.get_by_role("button", name="Keep running").click()
        expect(dialog).to_be_hidden()
        cancel.focus()
        page.keyboard.press("Enter")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_role("button", name="Keep running")).to_be_focused()
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(cancel).to_be_focused()
        assert cancel_posts == []
        job.refresh_from_db()
        assert (job.status, job.cancel_requested_at) == (JobStatus.RUNNING, None)

        cancel.click()
        dialog.get_by_label("Reason").fill("wrong batch")
        dialog.get_by_role("button", name="Cancel job").click()
        expect(dialog).to_be_hidden()
        expect(badge).to_have_text("Cancelling…")
        expect(row.get_by_role("button", name="Cancelling Long job")).to_be_disabled()
        expect(row.get_by_role("button", name="Delete Long job")).to_be_disabled()
    finally:
        os.kill(horse, signal.SIGCONT)

    expect(badge).to_have_text("Cancelled", timeout=SLOW)
    expect(row.locator("[data-partial]")).to_contain_text("of 20 files kept")
    expect(row.get_by_role("button", name="Delete Long job")).to_be_enabled()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.result["partial"] is True
    done = sum(f["status"] in ("done", "duplicate") for f in job.result["files"])
    assert 1 <= done < 20
    assert lifecycle.events_for(job).get(action="cancel").reason == "wrong batch"

    row.get_by_role("link", name="Long job").click()
    expect(page.locator(".job-panel .pill")).to_have_text("Partial result")
    expect(page.locator(".file-not_reached")).to_have_count(20 - done)
    expect(page.get_by_role("cell", name="wrong batch")).to_be_visible()


def test_job_page_follows_its_job_live_and_cleans_up_through_the_dialog(
    page, site, user, project, start_worker, tmp_path
):
    login(page, site, user)
    open_project(page, site, project)
    page.get_by_label("Files", exact=True).set_input_files(
        [
            write(tmp_path, "one.txt", prose(11, 50_000)),
            write(tmp_path, "two.md", prose(12, 50_000)),
        ]
    )
    fill_options(page, name="Watched job")
    page.get_by_role("button", name="Start ingest").click()
    job_row(page, "Watched job").get_by_role("link", name="Watched job").click()
    panel = page.locator("#job-panel")
    expect(panel.locator("[data-status-badge]")).to_have_text("Queued")
    expect(panel.locator(".file-waiting")).to_have_count(2)  # queued: not reached is for the end
    expect(page.locator("[data-live-text]")).to_have_text("Live")

    start_worker()  # only now: the page must follow the whole run by itself

    expect(panel.locator("[data-status-badge]")).to_have_text("Completed", timeout=SLOW)
    expect(panel.locator(".file-done")).to_have_count(2)
    expect(panel.get_by_role("link", name="one.txt")).to_be_visible()  # documents produced
    expect(panel.get_by_role("cell", name="Queued → Running")).to_be_visible()  # audit trail

    panel.get_by_role("button", name="Remove stored files…").click()
    dialog = page.locator("#cleanup-dialog")
    dialog.get_by_role("button", name="Remove files").click()
    expect(dialog.locator('[data-fill="cleanup-counts"]')).to_contain_text(
        "Stored files removed: 2"
    )
    expect(dialog.locator('[data-fill="cleanup-title"]')).to_have_text("Cleanup done")
    dialog.get_by_role("button", name="Close").click()
    expect(panel.get_by_role("cell", name="Cleanup")).to_be_visible()


def test_delete_after_confirming_removes_the_row_and_dismissing_keeps_it(page, site, user, project):
    finished = IngestJobFactory(
        project=project, status=JobStatus.COMPLETED, name="Finished job", finished_at=timezone.now()
    )
    elsewhere = IngestJobFactory(project=project, status=JobStatus.FAILED, name="Other job")
    login(page, site, user)
    open_project(page, site, project)
    expect(page.locator("#jobs [data-live-text]")).to_have_text("Live")
    row = page.locator(f"#job-{finished.pk}")
    dialog = page.locator("#delete-dialog")

    row.get_by_role("button", name="Delete Finished job").click()
    expect(dialog).to_contain_text("The documents it produced stay in the project")
    dialog.get_by_role("button", name="Keep job").click()
    expect(dialog).to_be_hidden()
    assert IngestJob.objects.filter(pk=finished.pk).exists()

    row.get_by_role("button", name="Delete Finished job").click()
    dialog.get_by_role("button", name="Delete job").click()
    expect(row).to_have_count(0)
    expect(page.locator("#notices")).to_contain_text("Job “Finished job” deleted.")
    assert IngestJob.all_objects.get(pk=finished.pk).deleted_at is not None

    # Deleted by someone else: the row goes by itself.
    lifecycle.soft_delete(elsewhere)
    expect(page.locator(f"#job-{elsewhere.pk}")).to_have_count(0)
    page.reload()
    expect(page.locator("tr.job-row")).to_have_count(0)


def test_viewer_sees_no_write_buttons(page, site, project):
    viewer = member(project, Role.VIEWER)
    running = IngestJobFactory(project=project, status=JobStatus.RUNNING, name="Busy job")
    IngestJobFactory(project=project, status=JobStatus.COMPLETED, name="Done job")
    login(page, site, viewer)
    open_project(page, site, project)

    expect(page.locator("tr.job-row")).to_have_count(2)
    expect(page.get_by_text("read only")).to_be_visible()
    expect(page.locator("#upload-form")).to_have_count(0)
    expect(page.locator("main button")).to_have_count(0)
    expect(page.locator("dialog")).to_have_count(0)

    page.goto(f"{site}/projects/{project.pk}/jobs/{running.pk}/")
    expect(page.get_by_role("heading", name="Busy job")).to_be_visible()
    expect(page.locator("main button")).to_have_count(0)


def test_without_the_stream_rows_poll_and_every_refusal_is_shown_in_words(
    page, site, user, project, start_worker, tmp_path
):
    stale = IngestJobFactory(project=project, status=JobStatus.COMPLETED, name="Stale job")
    page.route("**/events/**", lambda route: route.abort())
    start_worker()
    login(page, site, user)
    open_project(page, site, project)
    expect(page.locator("#jobs [data-live-text]")).to_have_text("Refreshing every 2 s")
    files_error = page.locator('[data-error-for="files"]')
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if "/jobs/new/" in r.url else None)

    # A hint before anything is sent.
    page.get_by_label("Files", exact=True).set_input_files(
        [write(tmp_path, "picture.png", b"\x89PNG")]
    )
    expect(files_error).to_have_text("1 file cannot be sent: remove it from the list below.")
    expect(page.locator("[data-file-list]")).to_contain_text(".png files are not accepted")
    page.get_by_role("button", name="Start ingest").click()
    assert uploads == []

    # The server's refusals, next to their fields.
    page.get_by_label("Files", exact=True).set_input_files(
        [write(tmp_path, "scan.pdf", b"not a pdf")]
    )
    page.get_by_role("button", name="Start ingest").click()
    expect(files_error).to_have_text("scan.pdf is named .pdf but its content is text, not a pdf.")
    page.get_by_label("Files", exact=True).set_input_files(
        [write(tmp_path, "ok.txt", prose(3, 20_000))]
    )
    fill_options(page, name="Polled job", chunk_size="10")
    page.get_by_role("button", name="Start ingest").click()
    expect(page.locator('[data-error-for="chunk_size"]')).to_have_text(
        "Chunk size must be between 50 and 100000 characters."
    )
    expect(page.get_by_label("Chunk size")).to_be_focused()

    # A good upload finishes on screen by polling alone.
    page.get_by_label("Chunk size").fill("")
    page.get_by_role("button", name="Start ingest").click()
    row = job_row(page, "Polled job")
    expect(row.locator("[data-status-badge]")).to_have_text("Completed", timeout=SLOW)
    expect(row.locator("[data-progress-percent]")).to_have_text("100%")

    # A stale page: the job was deleted elsewhere; the dialog says so.
    lifecycle.soft_delete(stale)
    page.locator(f"#job-{stale.pk}").get_by_role("button", name="Delete Stale job").click()
    page.locator("#delete-dialog").get_by_role("button", name="Delete job").click()
    expect(page.locator("#delete-dialog [data-dialog-error]")).to_have_text(
        "This job no longer exists: it was deleted, or you are not a member of its project."
    )
