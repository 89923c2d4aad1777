"""The command line: following a job (progress, Ctrl-C prompt, exit statuses),
collecting local files, and the ingest, jobs and job commands in-process."""

import io
import os
import signal

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from ingest import services
from ingest.client import IngestClient, Multipart, follow, main
from ingest.client import refusal as client_refusal
from ingest.models import IngestFile, IngestJob, Role
from ingest.pipeline.kinds import SUPPORTED
from ingest.tasks import run_ingest_job
from jobs import lifecycle
from jobs.models import JobStatus
from tests.conftest import BOTH_DATABASES, member
from tests.factories import IngestJobFactory, UserFactory

# --- following a job -------------------------------------------------------------


def job_state(status, files_done=0, files=None, **extra):
    files = files or [
        {"name": "a.txt", "status": "done", "chunks": 3, "error": None},
        {"name": "b.txt", "status": "not_reached", "chunks": 0, "error": None},
    ]
    return {
        "id": "0b6f5c3e-0000-4000-8000-000000000001",
        "name": "nightly",
        "status": status,
        "progress": {
            "files_total": len(files),
            "files_done": files_done,
            "bytes_total": 2000,
            "bytes_done": files_done * 1000,
            "percent": files_done * 50,
        },
        "result": {"partial": False, "documents_created": files_done, "files": files},
        **extra,
    }


class Job:
    """A job whose states are played back one per read; Ctrl-C is pressed at
    the reads listed in ``interrupt_at``."""

    def __init__(self, *states, interrupt_at=(), after_cancel=None):
        self.states = list(states)
        self.reads = 0
        self.interrupt_at = set(interrupt_at)
        self.after_cancel = after_cancel or []
        self.cancels = 0

    def fetch(self):
        self.reads += 1
        if self.reads in self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def cancel(self):
        self.cancels += 1
        if isinstance(self.after_cancel, Exception):
            raise self.after_cancel
        self.states = list(self.after_cancel)
        return self.states[0]


def run_follow(job: Job, answer: str = "", bar=False):
    out, err = io.StringIO(), io.StringIO()
    outcome = follow.follow(
        job.fetch,
        job.cancel,
        out=out,
        err=err,
        stdin=io.StringIO(answer),
        interval=0.01,
        bar=bar,
        hint="see how it goes with: manage.py job 1",
    )
    return outcome, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("status", "exit_status", "verdict"),
    [
        ("completed", 0, "job 'nightly' completed: 1 done; 1 document created."),
        ("failed", 1, "job 'nightly' failed: every file failed."),
        ("cancelled", 3, "job 'nightly' cancelled: kept 1 of 2 files"),
    ],
)
def test_follow_ends_with_the_summary_and_the_exit_status_of_the_job(status, exit_status, verdict):
    job = Job(
        job_state("queued"),
        job_state("running", 1),
        job_state(status, 1, error="every file failed." if status == "failed" else None),
    )

    outcome, out, err = run_follow(job)

    assert outcome.exit_status == exit_status
    assert not outcome.detached
    assert "  done        a.txt  3 chunks" in out
    assert "  not reached b.txt" in out
    assert verdict in out
    assert "job 'nightly' queued: 0/2 files" in err
    assert "job 'nightly' running: 1/2 files, 1000B of 1.95kB (50%)" in err


def test_follow_draws_a_bar_with_files_and_status_when_asked():
    job = Job(job_state("running", 1), job_state("completed", 2))

    outcome, _, err = run_follow(job, bar=True)

    assert outcome.exit_status == 0
    assert "1/2 files, running" in err
    assert "2/2 files, completed" in err
    assert "100%|" in err


def test_ctrl_c_then_yes_cancels_and_follows_until_cancelled():
    job = Job(
        job_state("running", 1),
        interrupt_at={1},
        after_cancel=[
            job_state("cancelling", 1, status_note="it stops at its next checkpoint."),
            job_state("cancelled", 1),
        ],
    )

    outcome, out, err = run_follow(job, answer="y\n")

    assert job.cancels == 1
    assert "cancel job 'nightly'? [y/N] " in err
    assert "cancelling job 'nightly': it stops at its next checkpoint" in err
    assert outcome.exit_status == follow.CANCELLED
    assert "job 'nightly' cancelled: kept 1 of 2 files (1 document created); 1 not reached." in out


@pytest.mark.parametrize("answer", ["n\n", "\n", ""])
def test_ctrl_c_without_a_yes_detaches_and_leaves_the_job_running(answer):
    job = Job(job_state("running", 1), interrupt_at={1})

    outcome, out, _ = run_follow(job, answer=answer)

    assert job.cancels == 0
    assert outcome.detached
    assert outcome.exit_status == 0
    assert "job 'nightly' is still running; it was left to finish on its own." in out
    assert "see how it goes with: manage.py job 1" in out
    assert "a.txt" not in out  # no summary for a job that has not ended


def test_a_second_ctrl_c_while_cancelling_stops_watching():
    job = Job(
        job_state("running", 1),
        interrupt_at={1, 3},
        after_cancel=[job_state("cancelling", 1)],
    )

    outcome, out, _ = run_follow(job, answer="y\n")

    assert job.cancels == 1
    assert outcome.detached
    assert "job 'nightly' is still cancelling" in out


def test_a_cancel_refused_because_the_job_finished_is_said_and_following_goes_on():
    job = Job(
        job_state("running", 1),
        job_state("completed", 2),
        interrupt_at={1},
        after_cancel=follow.Refused("job already completed; nothing to cancel."),
    )

    outcome, _, err = run_follow(job, answer="yes\n")

    assert "job already completed; nothing to cancel." in err
    assert outcome.exit_status == 0


def test_follow_restores_the_ctrl_c_handler():
    before = signal.getsignal(signal.SIGINT)
    run_follow(Job(job_state("running"), job_state("completed", 2)))
    assert signal.getsignal(signal.SIGINT) is before


# --- collecting local files --------------------------------------------------------


def tree(tmp_path, files: dict[str, bytes]):
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return tmp_path


def test_collect_walks_folders_in_order_and_skips_hidden_and_refused_files(tmp_path):
    root = tree(
        tmp_path,
        {
            "docs/b.txt": b"bee",
            "docs/a.md": b"# a",
            "docs/sub/c.csv": b"x,y",
            "docs/.cache/d.txt": b"hidden",
            "docs/.e.txt": b"hidden",
            "docs/f.exe": b"MZ\x00",
            "single.json": b"{}",
        },
    )

    files, skipped = follow.collect([str(root / "docs"), str(root / "single.json")], client_refusal)

    assert [f.name for f in files] == ["docs/a.md", "docs/b.txt", "docs/sub/c.csv", "single.json"]
    assert [f.size for f in files] == [3, 3, 3, 2]
    assert skipped == [
        "skipped: docs/.cache/ is hidden.",
        "skipped: docs/.e.txt is hidden.",
        f"skipped: docs/f.exe: type .exe is not supported; send {SUPPORTED}.",
    ]


def test_collect_refuses_a_missing_path_and_a_selection_with_nothing_to_send(tmp_path):
    with pytest.raises(follow.BadInput, match=r"no such file or folder: .*missing\.txt\."):
        follow.collect([str(tmp_path / "missing.txt")], client_refusal)
    tree(tmp_path, {"empty.txt": b""})
    with pytest.raises(follow.BadInput, match="nothing to ingest"):
        follow.collect([str(tmp_path)], client_refusal)


def test_collect_sends_a_file_given_twice_once(tmp_path):
    tree(tmp_path, {"d/a.txt": b"a"})
    files, _ = follow.collect([str(tmp_path / "d"), str(tmp_path / "d" / "a.txt")], lambda f: None)
    assert len(files) == 1


# --- the client without a server ----------------------------------------------------


def test_multipart_body_is_as_long_as_it_says_and_carries_every_file(tmp_path):
    root = tree(tmp_path, {"a.txt": b"alpha" * 1000, 'we"ird.txt': b"beta"})
    files, _ = follow.collect([str(root)], lambda f: None)

    body = Multipart({"name": "n", "chunk_size": 80}, files)
    data = b"".join(body.stream())

    assert len(data) == body.length
    assert b'filename="' + root.name.encode() + b'/we\\"ird.txt"' in data
    assert b"alpha" * 1000 in data
    assert data.endswith(f"--{body.boundary}--\r\n".encode())


def test_an_unreachable_server_is_one_sentence_and_status_1(capsys):
    status = main(["--url", "http://127.0.0.1:9", "--token", "t", "list", "Reports"])

    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("cannot reach http://127.0.0.1:9: ")
    assert len(err.strip().splitlines()) == 1


def test_the_client_needs_a_url_and_a_token(capsys, monkeypatch):
    monkeypatch.delenv("INGEST_TOKEN", raising=False)
    assert main(["--url", "http://127.0.0.1:9", "list", "Reports"]) == 2
    assert "--token" in capsys.readouterr().err


def test_a_project_id_needs_no_lookup():
    client = IngestClient("http://127.0.0.1:9/", "t")
    project_id = "0b6f5c3e-0000-4000-8000-000000000001"
    assert client.project_id(project_id) == project_id
    assert client.url == "http://127.0.0.1:9"


# --- manage.py ingest (without a worker: --no-wait) -------------------------------


def ingest(*args, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_ingest_creates_a_job_from_folders_as_the_user(tmp_path, project, user):
    root = tree(
        tmp_path, {"docs/a.txt": b"alpha", "docs/sub/b.md": b"# b", "docs/c.png": b"\x89PNG"}
    )

    out, err = ingest(
        project.name,
        str(root / "docs"),
        "--no-wait",
        "--user",
        user.username,
        "--name",
        "import",
        "--chunk-size",
        "80",
        "--chunk-overlap",
        "10",
    )

    job = IngestJob.objects.get()
    assert f"job {job.pk} 'import' created in project {project.name!r}: 2 files, 8B." in out
    assert "skipped: docs/c.png: type .png is not supported" in err
    assert (job.status, job.chunk_size, job.chunk_overlap) == (JobStatus.QUEUED, 80, 10)
    assert list(job.files.values_list("name", "kind")) == [
        ("docs/a.txt", "txt"),
        ("docs/sub/b.md", "md"),
    ]
    assert lifecycle.events_for(job).get().actor == user


@pytest.mark.django_db
def test_ingest_acts_as_the_only_superuser_by_default(tmp_path):
    admin = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
    project = services.project_create(user=admin, name="Reports")
    tree(tmp_path, {"a.txt": b"alpha"})

    ingest(str(project.pk), str(tmp_path / "a.txt"), "--no-wait")

    assert IngestJob.objects.get().created_by == admin


@pytest.mark.django_db
@pytest.mark.parametrize("superusers", [0, 2])
def test_ingest_asks_for_a_user_when_no_single_superuser_exists(tmp_path, superusers):
    for n in range(superusers):
        get_user_model().objects.create_superuser(f"admin{n}", f"a{n}@example.com", "pw")

    with pytest.raises(CommandError, match=r"superuser.*--user USERNAME\.") as caught:
        ingest("Reports", str(tmp_path), "--no-wait")

    assert caught.value.returncode == 2


@pytest.mark.django_db
def test_ingest_refuses_bad_input_with_a_sentence_and_status_2(tmp_path, project, user, settings):
    tree(tmp_path, {"a.txt": b"alpha", "b.txt": b"beta"})
    viewer = member(project, Role.VIEWER)
    cases = [
        ((project.name, str(tmp_path / "nope"), "--user", user.username), "no such file"),
        (("Elsewhere", str(tmp_path), "--user", user.username), "not a member of any project"),
        ((project.name, str(tmp_path), "--user", "ghost"), "no active user is called 'ghost'"),
        ((project.name, str(tmp_path), "--user", viewer.username), "is a viewer of project"),
        (
            (project.name, str(tmp_path), "--user", user.username, "--chunk-size", "5"),
            "chunk_size must be between 50 and 100000 characters.",
        ),
    ]
    settings.INGEST_MAX_FILES = 1
    cases.append(((project.name, str(tmp_path), "--user", user.username), "2 files sent"))

    for args, message in cases:
        with pytest.raises(CommandError, match=message) as caught:
            ingest(*args, "--no-wait")
        assert caught.value.returncode == 2, args

    assert not IngestJob.all_objects.exists()
    assert not IngestFile.objects.exists()


@pytest.mark.django_db
def test_ingest_skips_files_over_the_size_limit_and_says_why(tmp_path, project, user, settings):
    settings.INGEST_MAX_FILE_BYTES = 10
    tree(tmp_path, {"small.txt": b"alpha", "large.txt": b"x" * 11})

    _, err = ingest(project.name, str(tmp_path), "--no-wait", "--user", user.username)

    assert "skipped: " + tmp_path.name + "/large.txt is 11 bytes; the limit is 10" in err
    assert list(IngestFile.objects.values_list("name", flat=True)) == [f"{tmp_path.name}/small.txt"]


# --- manage.py jobs and job --------------------------------------------------------------


def run(command, *args):
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_jobs_lists_a_project_as_a_table_newest_first(project):
    old = IngestJobFactory(project=project, name="old", status=JobStatus.COMPLETED)
    old.items_total = old.items_done = 2
    old.save(update_fields=["items_total", "items_done"])
    new = IngestJobFactory(project=project, name="new", items_total=4)
    IngestJobFactory(name="elsewhere")

    lines = run("jobs", project.name).splitlines()

    assert lines[0].split() == ["ID", "NAME", "STATUS", "PROGRESS", "CREATED", "FINISHED"]
    assert lines[1].split()[:6] == [str(new.pk), "new", "queued", "0/4", "files", "0%"]
    assert lines[2].split()[:6] == [str(old.pk), "old", "completed", "2/2", "files", "100%"]
    assert len(lines) == 3


@pytest.mark.django_db
def test_jobs_filters_by_status_and_shows_deleted_ones_only_when_asked(project):
    kept = IngestJobFactory(project=project, name="kept", status=JobStatus.FAILED)
    gone = IngestJobFactory(project=project, name="gone", status=JobStatus.COMPLETED)
    lifecycle.soft_delete(gone, reason="test")

    assert "gone" not in run("jobs", str(project.pk))
    with_deleted = run("jobs", str(project.pk), "--deleted")
    assert "deleted (had completed)" in with_deleted
    assert str(kept.pk) in with_deleted
    assert str(kept.pk) in run("jobs", str(project.pk), "--status", "failed")
    assert run("jobs", str(project.pk), "--status", "running") == (
        f"no running jobs in project {project.name!r}.\n"
    )


@pytest.mark.django_db
def test_jobs_says_which_rows_it_left_out_past_the_limit(project):
    IngestJobFactory.create_batch(3, project=project)
    assert "showing 2 of 3 jobs; raise --limit to see more." in run(
        "jobs", project.name, "--limit", "2"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("command", "value", "message"),
    [
        ("jobs", "Nowhere", "no project is called or numbered 'Nowhere'."),
        ("job", "not-a-uuid", "no job not-a-uuid exists (the id is a UUID)."),
        ("job", "00000000-0000-0000-0000-000000000000", "no job 0000"),
    ],
)
def test_jobs_and_job_refuse_unknown_names_with_status_2(command, value, message):
    with pytest.raises(
        CommandError, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as caught:
        run(command, value)
    assert caught.value.returncode == 2


@pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES)
def test_job_shows_per_file_results_and_the_audit_trail(settings):
    owner = UserFactory(username="ada")
    project = services.project_create(user=owner, name="Reports")
    job, _ = services.job_create(
        project=project,
        user=owner,
        name="quarter",
        chunk_size=50,
        chunk_overlap=0,
        uploads=[
            SimpleUploadedFile("a.txt", b"Alpha text. " * 20),
            SimpleUploadedFile("b.pdf", b"%PDF-1.4 not really"),
        ],
    )
    run_ingest_job(str(job.pk))
    lifecycle.soft_delete(IngestJob.objects.get(pk=job.pk), actor=owner, reason="tidy up")

    lines = run("job", str(job.pk)).splitlines()

    assert lines[0] == f"job {job.pk} 'quarter'"
    text = "\n".join(lines)
    assert "  status       deleted (had completed)\n" in text
    assert "  progress     1/2 files, 1 failed, 259B of 259B (100%)" in text
    assert "  actions      none\n" in text  # a deleted job allows nothing
    assert f"  project      Reports ({project.pk})" in text
    assert "  created by   ada" in text
    assert "  deleted      " in text
    assert "files (2; 1 document created)" in text
    assert any(line.split()[:4] == ["done", "a.txt", "5", "chunks"] for line in lines)
    assert any(line.split()[:2] == ["failed", "b.pdf"] and "PDF" in line for line in lines)
    trail = lines[lines.index("audit trail") + 1 :]
    assert [line.split()[2:] for line in trail] == [
        ["create", "->", "queued", "ada"],
        ["start", "queued", "->", "running", "-"],
        ["complete", "running", "->", "completed", "-"],
        ["delete", "completed", "->", "cancelled", "ada", "tidy", "up"],
    ]


def test_a_zips_result_lists_the_members_shown_and_counts_the_rest():
    from ingest.client.present import file_lines

    members = [
        {"name": f"m{n}.txt", "status": "done", "chunks": 1, "error": None} for n in range(2)
    ]
    zipped = {"name": "a.zip", "status": "done", "chunks": 2, "error": None}
    lines = file_lines([{**zipped, "members": members, "members_total": 45}])

    assert lines == [
        "  done        a.zip  2 chunks",
        "      done        m0.txt  1 chunk",
        "      done        m1.txt  1 chunk",
        "      ... and 43 more members",
    ]
