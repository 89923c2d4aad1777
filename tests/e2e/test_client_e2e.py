"""The remote client against a live server (uvicorn) and a real rqworker:
create, wait, cancel, cleanup, delete, list, and the server's refusals shown
as their ``detail`` sentence."""

import io
import re
import subprocess
import sys

import pytest
from rest_framework.authtoken.models import Token

from ingest.client import ApiError, IngestClient
from ingest.models import Document, IngestJob
from ingest.pipeline.kinds import SUPPORTED
from jobs.lifecycle import events_for
from jobs.models import JobStatus
from tests.conftest import ROOT, WebProcess, wait_for
from tests.e2e.helpers import in_status, job_row
from tests.e2e.test_ingest_command_e2e import batch, console  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


def client_command(server: WebProcess, token: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "ingest.client", "--url", server.url, "--token", token, *args]


def client_env(worker_env: dict) -> dict:
    """What a machine without the project's settings has: the package on the path."""
    env = {k: v for k, v in worker_env.items() if k != "DJANGO_SETTINGS_MODULE"}
    return {**env, "PYTHONPATH": str(ROOT)}


def run_client(server, token, worker_env, tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        client_command(server, token, *args),
        cwd=tmp_path,
        env=client_env(worker_env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_client_creates_a_job_and_waits_until_it_completes(
    project, token, start_web, start_worker, tmp_path
):
    folder = batch(tmp_path / "batch", 3, 20_000, seed=100)
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    server = start_web()
    start_worker()
    client = IngestClient(server.url + "/", token)
    skipped, out, err = [], io.StringIO(), io.StringIO()

    job = client.create(
        project.name, [str(folder)], name="nightly", chunk_size=100, on_skip=skipped.append
    )
    outcome = client.wait(project.name, job["id"], out=out, err=err, bar=False, interval=0.2)

    assert job["status"] == "queued" and job["name"] == "nightly"
    assert skipped == [f"skipped: batch/logo.png: type .png is not supported; send {SUPPORTED}."]
    assert outcome.exit_status == 0 and not outcome.detached
    assert outcome.job["status"] == "completed"
    assert "job 'nightly' completed: 3 done; 3 documents created." in out.getvalue()
    assert "job 'nightly' completed: 3/3 files" in err.getvalue()
    assert [f["name"] for f in client.get(project.name, job["id"])["result"]["files"]] == [
        "part00.txt",
        "part01.txt",
        "part02.txt",
    ]
    assert [j["id"] for j in client.list(str(project.pk))] == [job["id"]]
    assert [e["action"] for e in client.events(project.name, job["id"])] == [
        "create",
        "start",
        "complete",
    ]
    assert Document.objects.filter(job_id=job["id"]).count() == 3


def test_client_command_at_a_prompt_cancels_on_ctrl_c_and_yes_with_exit_3(
    project,
    user,
    token,
    start_web,
    start_worker,
    worker_env,
    tmp_path,
    console,  # noqa: F811
):
    folder = batch(tmp_path / "batch", 40, 500_000, seed=200)
    server = start_web()
    start_worker()
    args = ["create", project.name, str(folder), "--name", "nightly", "--chunk-size", "50"]
    session = console(
        client_command(server, token, *args, "--chunk-overlap", "0", "--interval", "0.2"),
        client_env(worker_env),
        cwd=tmp_path,
    )
    job_id = session.job_id()
    wait_for(lambda: job_row(job_id).items_done >= 1, timeout=60, message="a file done")
    session.wait_for(r"job 'nightly' running: ")

    session.interrupt()
    session.wait_for(re.escape("cancel job 'nightly'? [y/N] "))
    session.type("y\n")

    assert session.finish() == 3, session.output
    job = job_row(job_id)
    assert job.status == JobStatus.CANCELLED
    kept = Document.objects.filter(job=job).count()
    assert f"job 'nightly' cancelled: kept {kept} of 40 files" in session.output
    cancel = events_for(job).get(action="cancel")
    assert (cancel.actor, cancel.reason) == (user, "cancelled from the remote client")


def test_client_cancels_cleans_up_and_deletes_a_job(
    project, token, start_web, start_worker, tmp_path
):
    folder = batch(tmp_path / "batch", 30, 1_000_000, seed=300)
    server = start_web()
    start_worker()
    client = IngestClient(server.url, token)
    job = client.create(str(project.pk), [str(folder)], chunk_size=50, chunk_overlap=0)
    wait_for(lambda: in_status(job["id"], JobStatus.RUNNING), message="the job to run")

    cancelling = client.cancel(project.name, job["id"], reason="wrong batch")
    outcome = client.wait(
        project.name, job["id"], out=io.StringIO(), err=io.StringIO(), bar=False, interval=0.2
    )
    first = client.cleanup(project.name, job["id"])
    second = client.cleanup(project.name, job["id"])
    deleted = client.delete(project.name, job["id"])

    assert cancelling["status"] in ("cancelling", "cancelled")
    assert outcome.exit_status == 3 and outcome.job["status"] == "cancelled"
    assert first["files_removed"] == 30 and first["detail"].startswith("removed 30 stored file(s)")
    assert second["detail"] == "nothing to remove: this job was already cleaned up."
    assert deleted is None
    with pytest.raises(ApiError) as caught:
        client.get(project.name, job["id"])
    assert caught.value.status == 404
    assert caught.value.detail == "not found: no such item here, or you are not a member."
    row = job_row(job["id"])
    assert row.deleted_at is not None
    assert events_for(row).get(action="cancel").reason == "wrong batch"


def test_client_command_shows_the_servers_refusals_as_their_detail(
    project, token, start_web, start_worker, worker_env, tmp_path
):
    folder = batch(tmp_path / "batch", 40, 500_000, seed=400)
    server = start_web()
    start_worker()
    client = IngestClient(server.url, token)
    running = client.create(project.name, [str(folder)], chunk_size=50, chunk_overlap=0)
    wait_for(lambda: in_status(running["id"], JobStatus.RUNNING), message="the job to run")

    refused_delete = run_client(
        server, token, worker_env, tmp_path, "delete", project.name, running["id"]
    )
    missing = run_client(server, token, worker_env, tmp_path, "get", project.name, "nope")
    forced = run_client(
        server, token, worker_env, tmp_path, "delete", project.name, running["id"], "--force"
    )
    wait_for(lambda: job_row(running["id"]).deleted_at, timeout=60, message="the forced delete")
    refused_cancel = run_client(
        server, token, worker_env, tmp_path, "cancel", project.name, running["id"]
    )
    stranger = run_client(server, "not-a-token", worker_env, tmp_path, "list", project.name)

    assert (refused_delete.returncode, refused_delete.stderr) == (
        1,
        "job is running: cancel the job first, or repeat with ?force=true.\n",
    )
    assert (missing.returncode, missing.stderr) == (
        2,
        "not found: no such item here, or you are not a member.\n",
    )
    assert forced.returncode == 0 and "it is deleted once it stops" in forced.stdout
    # Once deleted, the job is gone for the API: a 404, not a 409.
    assert refused_cancel.returncode == 2
    assert (stranger.returncode, stranger.stderr) == (2, "Invalid token.\n")


def test_client_command_shows_an_upload_refused_as_too_large(
    project, token, start_web, worker_env, tmp_path
):
    server = start_web(INGEST_MAX_FILE_BYTES="1000")
    (tmp_path / "big.txt").write_text("word " * 400)
    (tmp_path / "small.txt").write_text("word")

    done = run_client(
        server, token, worker_env, tmp_path, "create", project.name, "big.txt", "small.txt"
    )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "big.txt is over the limit of 1000 bytes per file."
    )
    assert "Traceback" not in done.stderr
    assert not IngestJob.all_objects.exists()


def test_client_command_lists_and_shows_jobs(
    project, token, start_web, start_worker, worker_env, tmp_path
):
    (tmp_path / "a.txt").write_text("alpha " * 100)
    server = start_web()
    start_worker()
    created = run_client(
        server, token, worker_env, tmp_path, "create", project.name, "a.txt", "--name", "one"
    )
    job_id = re.search(r"job ([0-9a-f-]{36}) ", created.stdout).group(1)

    listing = run_client(server, token, worker_env, tmp_path, "list", project.name)
    shown = run_client(server, token, worker_env, tmp_path, "get", project.name, job_id)
    refused = run_client(server, token, worker_env, tmp_path, "cancel", project.name, job_id)

    assert created.returncode == 0, created.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATUS", "PROGRESS", "CREATED", "FINISHED"]
    assert lines[1].split()[:6] == [job_id, "one", "completed", "1/1", "files", "100%"]
    assert shown.stdout.startswith(f"job {job_id} 'one'\n  status       completed\n")
    assert re.search(r"  done        a\.txt  \d+ chunks?\n", shown.stdout)
    assert [line.split()[2] for line in shown.stdout.split("audit trail\n")[1].splitlines()] == [
        "create",
        "start",
        "complete",
    ]
    assert (refused.returncode, refused.stderr) == (
        1,
        "job already completed; nothing to cancel.\n",
    )
