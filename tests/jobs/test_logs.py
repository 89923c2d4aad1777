"""Structured logs: one line per event, the job's fields on every line of its work."""

import json
import logging
import re
import sys

import pytest

from ingest.models import IngestJob
from jobs import logs
from jobs.runner import run_job
from tests.conftest import BOTH_DATABASES
from tests.factories import IngestJobFactory


def formatted(formatter, message, *args, exc_info=None) -> str:
    record = logging.LogRecord("jobs.test", logging.INFO, __file__, 1, message, args, exc_info)
    logs.ContextFilter().filter(record)
    return formatter.format(record)


def test_logfmt_line_carries_the_bound_fields_and_quotes_what_needs_it():
    with logs.bind(job="j1", project="p1"):
        line = formatted(logs.LogfmtFormatter(), "file %s done", "a b.txt")

    assert line.endswith(' level=INFO logger=jobs.test job=j1 project=p1 msg="file a b.txt done"')
    assert re.match(r"at=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", line)


def test_a_traceback_stays_on_the_same_line():
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        line = formatted(logs.LogfmtFormatter(), "broke", exc_info=sys.exc_info())

    assert "\n" not in line
    assert 'exc="Traceback' in line and "ValueError: bad\\nthing" in line


def test_json_lines_parse_and_fields_are_unbound_after_the_block():
    with logs.bind(job="j2"):
        inside = json.loads(formatted(logs.JsonFormatter(), "hello"))
    outside = json.loads(formatted(logs.JsonFormatter(), "bye"))

    assert inside["job"] == "j2" and inside["msg"] == "hello"
    assert "job" not in outside


@pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES)
def test_every_line_of_a_jobs_work_names_the_job_and_its_project(settings):
    job = IngestJobFactory()
    seen = []

    class Capture(logging.Handler):
        def emit(self, record):
            seen.append(record)

    def work(job, ctx):
        logging.getLogger("x").info("working")

    handler = Capture()
    handler.addFilter(logs.ContextFilter())
    logging.getLogger().addHandler(handler)
    try:
        run_job(IngestJob, job.pk, work, work_root=settings.INGEST_WORK_DIR)
    finally:
        logging.getLogger().removeHandler(handler)

    expected = {"job": str(job.pk), "project": str(job.project_id)}
    assert [r.getMessage() for r in seen if r.name == "x"] == ["working"]
    assert all(r.context == expected for r in seen), [(r.name, r.context) for r in seen]
    assert {r.name for r in seen} >= {"x", "jobs.lifecycle"}
