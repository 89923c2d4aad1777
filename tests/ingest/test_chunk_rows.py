"""Chunk rows hold exactly the chunks cut from the canonical text, through
COPY's text format on PostgreSQL and through INSERTs elsewhere."""

from pathlib import Path

import pytest
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, transaction

from ingest.models import Chunk
from ingest.pipeline import canonical, steps, store
from jobs.models import JobStatus
from jobs.runner import JobContext
from tests.conftest import postgres_only
from tests.factories import DocumentFactory, IngestFileFactory, IngestJobFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])

# Everything COPY's text format treats specially, and what merely looks like it.
AWKWARD = (
    "back\\slash \\N \\. \\\\ \\n not a newline\n"
    "\\.\n"
    "tab\tand\rcarriage return, \x01 control, \u00e9 \u65e5\u672c \U0001f600 "
)


@pytest.fixture(autouse=True)
def close_job_state_connection():
    yield
    connections[settings.JOB_STATE_DB].close()


def context_for(job) -> JobContext:
    work_dir = Path(settings.INGEST_WORK_DIR) / str(job.pk)
    work_dir.mkdir(parents=True, exist_ok=True)
    return JobContext(job, work_dir=work_dir, using=settings.JOB_STATE_DB)


def stored(document) -> list[tuple]:
    rows = Chunk.objects.filter(document=document).order_by("index")
    return list(rows.values_list("index", "start", "end", "text"))


@postgres_only
def test_copy_writes_every_character_as_it_is():
    job = IngestJobFactory(status=JobStatus.RUNNING)
    document = DocumentFactory(project=job.project)
    pieces = [canonical.Piece(i, i * 10, i * 10 + len(AWKWARD), AWKWARD[i:]) for i in range(450)]

    with transaction.atomic():
        count = store._copy_chunks(document, iter(pieces), context_for(job))

    assert count == 450  # more than two batches, and a last partial one
    assert stored(document) == [(p.index, p.start, p.end, p.text) for p in pieces]


@pytest.mark.parametrize("size", [7, 50, 1000])
def test_ingested_file_has_the_chunks_of_its_canonical_text(tmp_path, size):
    job = IngestJobFactory(status=JobStatus.RUNNING, chunk_size=size, chunk_overlap=size // 10)
    content = ("\\x and \\. " + AWKWARD + "\n\n") * 40
    ingest_file = IngestFileFactory(job=job, content=content.encode(), name="awkward.txt")

    steps.ingest(job, context_for(job))

    ingest_file.refresh_from_db()
    document = ingest_file.sources.get().document
    written = canonical.canonicalize([content], tmp_path / "canonical.txt")
    expected = list(canonical.chunks(written.path, size=size, overlap=size // 10))
    assert ingest_file.status == "done"
    assert document.sha256 == written.sha256
    assert stored(document) == [(p.index, p.start, p.end, p.text) for p in expected]
    assert ingest_file.chunks == len(expected) > 1


class DroppingContext(JobContext):
    """Its first checkpoint inside the COPY drops the work's database
    connection, as a failover or ``pg_terminate_backend`` would."""

    def checkpoint(self, *, force=False):
        if not getattr(self, "dropped", False):
            self.dropped = True
            pid = connections["default"].connection.info.backend_pid
            with connections[self.using].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        super().checkpoint(force=force)


@postgres_only
def test_a_connection_dropped_during_the_copy_is_a_database_error_django_knows():
    # The runner puts a job whose connection dropped back in the queue; it
    # knows Django's errors only. psycopg's own, raised through the raw
    # cursor COPY needs, once fell through to "internal error", whose FAILED
    # transition then broke on the dropped connection too and left the job
    # RUNNING until the reaper's heartbeat timeout.
    job = IngestJobFactory(status=JobStatus.RUNNING)
    document = DocumentFactory(project=job.project)
    pieces = [canonical.Piece(i, i, i + 1, "x" * 1000) for i in range(5000)]
    work_dir = Path(settings.INGEST_WORK_DIR) / str(job.pk)
    work_dir.mkdir(parents=True, exist_ok=True)
    ctx = DroppingContext(job, work_dir=work_dir, using=settings.JOB_STATE_DB)

    with pytest.raises((OperationalError, InterfaceError)), transaction.atomic():
        store._copy_chunks(document, iter(pieces), ctx)

    connections["default"].close()
    assert not Chunk.objects.filter(document=document).exists()
