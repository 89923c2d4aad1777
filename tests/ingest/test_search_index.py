"""The index goes with its rows: written with a file's chunks, in their
transaction (a job that ends completed is searchable whole), gone when they
go (a cancelled file, a cleanup, a document's deletion), kept while they stay
(a deleted or purged job's documents), on both databases."""

from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ingest import selectors, services
from ingest.models import Chunk, Document, FileStatus, IngestJob
from ingest.search import analyzer, fts5, index
from jobs.models import JobStatus
from jobs.runner import JobCancelled
from tests.conftest import is_postgres, postgres_only
from tests.factories import DocumentFactory, ProjectFactory
from tests.ingest.test_pipeline import (  # noqa: F401 (writing is a fixture)
    CancelWhen,
    add_file,
    context_for,
    fresh,
    many_chunks_file,
    run,
    running_job,
    writing,
)

pytestmark = pytest.mark.django_db
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "search"


def index_rows() -> int:
    """The index's chunk entries: FTS5 rows on SQLite, vectors on PostgreSQL."""
    with connection.cursor() as cursor:
        if is_postgres():
            cursor.execute("SELECT count(*) FROM ingest_chunk WHERE search IS NOT NULL")
        else:
            cursor.execute("SELECT count(*) FROM ingest_chunk_fts")
        return cursor.fetchone()[0]


def found(project, q) -> set[str]:
    return {d.title for d in selectors.document_list(project=project, q=q)}


def test_sqlite_has_its_fts5_tables_and_every_trigger():
    if is_postgres():
        pytest.skip("SQLite's index")
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        names = {name for _, name in cursor.fetchall()}
    # A migration that remakes ingest_document or ingest_chunk drops their
    # triggers: it must call fts5.create_triggers() again.
    assert set(fts5.TABLES) | set(fts5.TRIGGERS) <= names


def test_index_rows_go_with_their_documents_and_chunks(project):
    doc = DocumentFactory(project=project, title="Harbour log")
    Chunk.objects.bulk_create(
        index.chunk(document=doc, index=i, text=f"tide {i}", start=i, end=i + 1) for i in range(3)
    )
    assert index_rows() == 3
    assert found(project, "tide") == found(project, "harbour") == {"Harbour log"}

    Chunk.objects.filter(document=doc, index=0).delete()
    assert index_rows() == 2
    Document.objects.filter(pk=doc.pk).delete()

    assert index_rows() == 0
    assert found(project, "tide") == found(project, "harbour") == set()


def test_a_document_saved_again_keeps_its_place_in_the_index(project):
    doc = DocumentFactory(project=project, title="Harbour log")
    index.chunk(document=doc, index=0, text="tide", start=0, end=4).save()
    doc.title = "Harbour log"  # the instance never read the key SQLite gave the row
    doc.save()
    assert found(project, "tide") == found(project, "harbour") == {"Harbour log"}


@pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])
def test_every_chunk_is_in_the_index_when_the_pipeline_ends():
    # The chunks and their index rows commit together: once the job's steps
    # are done (before it is COMPLETED), nothing is left to index.
    job = running_job(chunk_size=50, chunk_overlap=0)
    add_file(job, "first.txt", b"a small file before the big one")
    many_chunks_file(job)
    run(job)

    chunks = Chunk.objects.count()
    last = Chunk.objects.filter(document__title="big.txt").order_by("index").last()
    last_word = last.text.split()[-1]
    assert chunks > 8 and index_rows() == chunks
    assert found(job.project, "small") == {"first.txt"}
    assert found(job.project, last_word) == {"big.txt"}


@pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])
def test_a_deleted_then_purged_jobs_documents_stay_searchable():
    # Delete and purge keep the documents (the project's data), so the
    # index keeps their rows: neither a hit lost nor an entry left dangling.
    job = running_job(chunk_size=50, chunk_overlap=0)
    add_file(job, "log.txt", b"the lighthouse keeper wrote the tides down every night")
    run(job)
    IngestJob.all_objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)
    chunks = Chunk.objects.count()

    services.job_delete(job=IngestJob.all_objects.get(pk=job.pk))
    assert found(job.project, "lighthouse") == {"log.txt"}
    assert index_rows() == Chunk.objects.count() == chunks

    assert services.job_purge(job=IngestJob.all_objects.get(pk=job.pk), via="command")
    assert not IngestJob.all_objects.filter(pk=job.pk).exists()
    assert found(job.project, "lighthouse tides") == {"log.txt"}
    assert index_rows() == Chunk.objects.count() == chunks


@pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])
def test_a_cancelled_file_leaves_no_index_rows_and_a_cleanup_takes_them(writing):  # noqa: F811
    job = running_job(chunk_size=50, chunk_overlap=0)
    first = add_file(job, "first.txt", b"finished before the cancel")
    big = many_chunks_file(job)

    ctx = context_for(job, CancelWhen, when=lambda: writing[-1:] == ["big.txt"])
    with pytest.raises(JobCancelled):
        run(job, ctx)

    assert fresh(big).status == FileStatus.PENDING
    assert index_rows() == Chunk.objects.count() == fresh(first).chunks
    assert found(job.project, "finished") == {"first.txt"}
    assert found(job.project, "big.txtword1") == set()

    type(job).all_objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)
    services.job_cleanup(job=fresh(job), documents=True)

    assert index_rows() == 0
    assert found(job.project, "finished") == set()


@postgres_only
@pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])
def test_an_interrupted_copy_is_cancelled_and_its_connection_stays_usable(writing):  # noqa: F811
    # The COPY is cancelled at the server rather than left to write the rows
    # in flight; the cancel must not reach the statements after it.
    for _ in range(3):
        job = running_job(chunk_size=50, chunk_overlap=0)
        many_chunks_file(job)
        ctx = context_for(job, CancelWhen, when=lambda: writing[-1:] == ["big.txt"])
        with pytest.raises(JobCancelled):
            run(job, ctx)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM ingest_chunk")
            assert cursor.fetchone()[0] == 0
        assert index_rows() == 0


@postgres_only
def test_chunk_rows_are_stored_whole_up_to_a_page():
    # Not compressed on the way in: that try was most of the database's
    # cost of a job's rows beside the GIN index (migration 0010).
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'ingest_chunk'")
        assert "toast_tuple_target=8160" in cursor.fetchone()[0]


@postgres_only
@pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])
def test_the_workers_vectors_are_postgresqls_own_of_their_terms():
    # The COPY sends each vector in binary, sorted by the worker: PostgreSQL
    # builds the same from the terms, for real text of every kind here.
    job = running_job(chunk_size=300, chunk_overlap=30)
    for name in ("dao-de-jing.txt", "don-quijote-capitulos-1-2.txt", "curl-copyright.txt"):
        add_file(job, name, (CORPUS / name).read_bytes())
    run(job)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE search = "
            "array_to_tsvector(array_remove(string_to_array(terms, ' '), ''))) FROM ingest_chunk"
        )
        total, same = cursor.fetchone()
    assert total > 100 and same == total
    for chunk in Chunk.objects.all()[:200]:
        assert chunk.terms == analyzer.term_bytes(chunk.text).decode()


@pytest.mark.django_db(transaction=True)
def test_the_migration_indexes_the_rows_already_there():
    executor = MigrationExecutor(connection)
    before = [("ingest", "0009_file_members")]
    after = executor.loader.graph.leaf_nodes("ingest")
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        project = ProjectFactory()
        old = apps.get_model("ingest", "Document").objects.create(
            project_id=project.pk, title="Naïve notes", sha256="0" * 64, size=9, chunk_count=1
        )
        apps.get_model("ingest", "Chunk").objects.create(
            document_id=old.pk, index=0, text="Tide tables for the 道 harbour", start=0, end=9
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(after)

    assert found(project, "naive") == found(project, "tide harbour") == {"Naïve notes"}
    assert found(project, "道") == {"Naïve notes"}
    assert Document.objects.get(pk=old.pk).terms == "naive notes"
