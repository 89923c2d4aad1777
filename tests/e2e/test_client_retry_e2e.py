"""The remote client's ``retry`` verb against a live server and a real worker."""

import pytest
from rest_framework.authtoken.models import Token

from jobs import lifecycle
from jobs.models import JobStatus
from tests.conftest import wait_for
from tests.e2e.helpers import create_job, finished, job_row, text_file
from tests.e2e.test_client_e2e import run_client

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


def test_client_retries_a_cancelled_job_and_follows_it_to_the_end(
    api,
    project,
    token,
    start_web,
    start_worker,
    worker_env,
    tmp_path,
):
    files = [text_file(f"f{n}.txt", n, 20_000) for n in range(3)]
    job_id = create_job(api, project, files, name="Stopped early")
    lifecycle.request_cancel(job_row(job_id))  # before any worker took it
    server = start_web()
    start_worker()

    first = run_client(server, token, worker_env, tmp_path, "retry", project.name, job_id)
    again = run_client(server, token, worker_env, tmp_path, "retry", str(project.pk), job_id)

    assert first.returncode == 0, first.stderr
    retry = job_row(job_id).retries.get()
    assert f"job {retry.pk} 'Retry of Stopped early' created to retry 3 file(s)" in first.stdout
    assert wait_for(lambda: finished(retry.pk)).status == JobStatus.COMPLETED
    assert again.returncode == 1  # a 409, as for the other refused verbs
    assert again.stderr.strip() == (
        f"job {retry.pk} already retried it and finished every file; nothing is left to retry."
    )
