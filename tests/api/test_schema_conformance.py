"""The API against its own OpenAPI schema: schemathesis, every check and every
phase (examples, coverage, fuzzing, stateful), a fixed seed and about 25
cases per operation, against the site served by a real uvicorn, with a valid
token. Its settings, and why each exception to a check is one, are in
``schemathesis.toml`` beside this file."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token

from ingest.models import Document
from jobs.models import JobStatus
from tests.conftest import wait_for
from tests.e2e.helpers import create_job, finished, job_row, job_url, text_file

CONFIG = Path(__file__).with_name("schemathesis.toml")
LICENCES = Path("/usr/share/common-licenses")


def run_schemathesis(url: str, env: dict, report: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run"]
    command += [f"{url}/api/schema/", "--no-color", "--report", "json"]
    command += ["--report-json-path", str(report)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def real_items(api, project, start_worker) -> dict[str, str]:
    """A completed job and its documents (a real worker ingests Debian's
    licence texts), a queued job and a cancelled one."""
    worker = start_worker()
    licences = [LICENCES / "GPL-3", LICENCES / "BSD"]
    uploads = [SimpleUploadedFile(p.name, p.read_bytes()) for p in licences]
    completed = create_job(api, project, uploads, chunk_size=2000, chunk_overlap=100)
    wait_for(lambda: finished(completed), timeout=120, message="the licences ingested")
    worker.stop()
    assert job_row(completed).status == JobStatus.COMPLETED, worker.output()
    queued = create_job(api, project, [text_file("queued.txt", 1, 2000)])
    cancelled = create_job(api, project, [text_file("cancelled.txt", 2, 2000)])
    assert api.post(job_url(project, cancelled, "cancel/")).status_code == 200
    return {
        "SCHEMATHESIS_COMPLETED_JOB": completed,
        "SCHEMATHESIS_QUEUED_JOB": queued,
        "SCHEMATHESIS_CANCELLED_JOB": cancelled,
        "SCHEMATHESIS_DOCUMENT": str(Document.objects.filter(job_id=completed).first().pk),
    }


# A couple of minutes on two cores; the margin is for a loaded CI machine.
@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_api_answers_as_its_schema_says(start_web, start_worker, api, user, project, tmp_path):
    items = real_items(api, project, start_worker)
    token = Token.objects.create(user=user)
    server = start_web()
    env = {
        **os.environ,
        **items,
        "SCHEMATHESIS_TOKEN": token.key,
        "SCHEMATHESIS_PROJECT": str(project.pk),
    }
    report = tmp_path / "schemathesis.json"
    result = run_schemathesis(server.url, env, report)
    summary = result.stdout[result.stdout.find("SUMMARY") :]
    print(summary)  # the case counts, for the record (pytest -s shows them)
    assert result.returncode == 0, result.stdout[-30_000:] + result.stderr[-5_000:]
    run = json.loads(report.read_text())
    assert run["test_cases"]["unique_failures"] == 0
    assert {name: phase["status"] for name, phase in run["phases"].items()} == {
        "examples": "skip",  # the schema has no examples of its own
        "coverage": "success",
        "fuzzing": "success",
        "stateful": "success",
    }
    print("operations that mostly answered 404:", run["warnings"]["missing_test_data"])
