"""Retry with real rqworker processes, on the local disk and on the moto bucket:
what a cancelled job left is finished, nothing done is done twice, a zip's
written members are not written again; and the Retry button in a browser."""

import io
import os
import signal
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from ingest.models import Document, DocumentSource, FileStatus, IngestFile
from jobs import lifecycle
from jobs.models import JobStatus
from tests.conftest import client_for, is_postgres, member, wait_for
from tests.e2e.helpers import create_job, finished, job_row, job_url, text_file
from tests.e2e.test_dashboard_browser import login
from tests.factories import member_results

pytestmark = [pytest.mark.e2e]

RELEASE_NOTES = sorted(Path("/usr/share/doc/git/RelNotes").glob("2.*.txt"))[:6]


def zip_upload(name: str, members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def zip_written_part_way(job_id):
    zipped = IngestFile.objects.get(job_id=job_id, kind="zip")
    return zipped.members_count and zipped.status == FileStatus.PENDING


@pytest.mark.parametrize("upload_storage", ["local", "s3"], indirect=True)
def test_retry_finishes_a_cancelled_job_without_doing_anything_twice(
    api, project, upload_storage, start_worker
):
    assert RELEASE_NOTES, "git's release notes (/usr/share/doc/git) are the real inputs here"
    members = {f"notes/{p.name}": p.read_bytes() * 15 for p in RELEASE_NOTES}
    files = [
        text_file("t0.txt", 0, 300_000),
        text_file("t1.txt", 1, 300_000),
        zip_upload("release-notes.zip", members),
        text_file("t3.txt", 3, 300_000),
        text_file("t4.txt", 4, 300_000),
    ]
    job_id = create_job(api, project, files)
    worker = start_worker()
    wait_for(lambda: zip_written_part_way(job_id), timeout=120, message="a zip member written")
    # Paused, the work horse cannot race the cancel to the end of the zip (on
    # SQLite it is paused outside its write transaction: see freeze_horse).
    # Sent while it ran, SQLite's cancel could wait out every write left and
    # find the job completed (409).
    horse = worker.freeze_horse()
    try:
        assert api.post(job_url(project, job_id, "cancel/")).status_code == 202
    finally:
        os.kill(horse, signal.SIGCONT)
    job = wait_for(lambda: finished(job_id), timeout=180, message="the cancel")
    assert job.status == JobStatus.CANCELLED
    zipped = IngestFile.objects.get(job=job, kind="zip")
    written_members = {m["name"] for m in member_results(zipped)}
    if len(written_members) == len(members):
        # Only on SQLite: the cancel waited for the zip's last write transaction
        # and was seen after it, so the retry holds whole files only.
        assert not is_postgres()
        assert_retry_finishes_the_rest(api, project, job_id, documents=4 + len(members))
        return
    assert 0 < len(written_members) < len(members)

    response = api.post(job_url(project, job_id, "retry/"))

    assert response.status_code == 201, response.json()
    retry_id = response.json()["id"]
    assert [f["name"] for f in response.json()["result"]["files"]] == [
        "release-notes.zip",
        "t3.txt",
        "t4.txt",
    ]
    retry = wait_for(lambda: finished(retry_id), timeout=180, message="the retry to finish")
    assert retry.status == JobStatus.COMPLETED, worker.output()
    body = api.get(job_url(project, retry_id)).json()
    assert [f["status"] for f in body["result"]["files"]] == ["done"] * 3
    retried_zip = IngestFile.objects.get(job=retry, kind="zip")
    results = {m["name"]: m["status"] for m in member_results(retried_zip)}
    assert set(results) == set(members)
    # Nothing was written twice: every member and file made one new document,
    # none came back as a duplicate of what the first job wrote.
    assert set(results.values()) == {"done"}
    assert not DocumentSource.objects.filter(file=retried_zip, member__in=written_members).exists()
    assert Document.objects.filter(project=project).count() == 4 + len(members)
    assert Document.objects.filter(job_id=retry_id).count() == 2 + len(members) - len(
        written_members
    )
    assert [e.action for e in lifecycle.events_for(job_row(job_id))][-1] == "retry"
    assert api.get(job_url(project, job_id)).json()["retries"] == [retry_id]


def assert_retry_finishes_the_rest(api, project, job_id, *, documents):
    """The retry holds exactly the files the job did not finish (and is refused
    when there are none), completes, and writes nothing twice: the project ends
    with ``documents`` documents."""
    left = [
        f.name
        for f in IngestFile.objects.filter(job_id=job_id).order_by("position")
        if f.status not in (FileStatus.DONE, FileStatus.DUPLICATE)
    ]
    response = api.post(job_url(project, job_id, "retry/"))
    if not left:  # the cancel won only at the final transition
        assert response.status_code == 409
        assert "nothing to retry" in response.json()["detail"]
        return
    assert response.status_code == 201, response.json()
    assert [f["name"] for f in response.json()["result"]["files"]] == left
    retry = wait_for(lambda: finished(response.json()["id"]), timeout=180, message="the retry")
    assert retry.status == JobStatus.COMPLETED
    assert Document.objects.filter(project=project).count() == documents


def test_retry_in_the_browser_confirms_then_opens_the_new_job_linked_to_the_old(
    page, site, user, project, start_worker
):
    job_id = create_job(client_for(user), project, [text_file("a.txt", 1, 20_000)], name="Stopped")
    lifecycle.request_cancel(job_row(job_id))  # cancelled before any worker took it
    start_worker()
    login(page, site, user)
    page.goto(f"{site}/projects/{project.pk}/jobs/{job_id}/")

    page.get_by_role("button", name="Retry Stopped").click()
    dialog = page.get_by_role("dialog", name="Retry “Stopped”?")
    expect(dialog).to_contain_text("nothing is sent again")
    dialog.get_by_role("button", name="Retry job").click()

    expect(page.get_by_role("heading", name="Retry of Stopped")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-status-badge]")).to_have_text("Completed", timeout=60_000)
    page.locator("[data-retry-of]").click()
    expect(page.get_by_role("heading", name="Stopped", exact=True)).to_be_visible()
    expect(page.locator("[data-retried-as]")).to_have_text("Retry of Stopped")


def test_a_viewer_sees_no_retry_button(page, site, project, user):
    job_id = create_job(client_for(user), project, [text_file("a.txt", 2, 2_000)], name="Gone")
    lifecycle.request_cancel(job_row(job_id))
    viewer = member(project, "viewer")
    login(page, site, viewer)
    page.goto(f"{site}/projects/{project.pk}/jobs/{job_id}/")

    expect(page.get_by_role("heading", name="Gone")).to_be_visible()
    expect(page.get_by_role("button", name="Retry Gone")).to_have_count(0)
