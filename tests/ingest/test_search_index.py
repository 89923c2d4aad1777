"""The chunks' search index, filled after they are written: search answers the
same before and after, the indexer fills every vector as PostgreSQL would
have, concurrent indexers share the work, and the indexing task is scheduled
once, at the front of the queue, by a written file and by the reaper."""

import threading
from pathlib import Path

import django_rq
import pytest
from django.db import connection, connections

from ingest import search_index, selectors
from ingest.management.commands.ingest_reaper import Command as ReaperCommand
from ingest.models import Chunk
from ingest.queues import QUEUE_NAME
from tests.conftest import postgres_only
from tests.ingest.test_pipeline import add_file, run, running_job
from tests.ingest.test_search import document, search

pytestmark = [pytest.mark.django_db, postgres_only]

QUERIES = ["harbour", "harbour lights", '"harbour lights"', "ships -ledger", "tides or ledger"]


@pytest.fixture
def library(project):
    document(project, "Harbour notes", "The harbour lights at night.", "Ships come in.")
    document(project, "Split", "the harbour", "lights elsewhere")
    document(project, "Tides", "tides tides tides", "and the harbour once")
    document(project, "Ledger of ships", "Numbers and dates.")
    return project


def answers(api, project) -> dict:
    return {
        q: [
            (hit["title"], round(hit["rank"], 6), hit["snippet"]) for hit in search(api, project, q)
        ]
        for q in QUERIES
    }


def unindexed() -> int:
    return Chunk.objects.filter(search__isnull=True).count()


def mismatched() -> int:
    """Chunks whose stored vector is not what to_tsvector makes of their text."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM ingest_chunk WHERE search IS DISTINCT FROM "
            "to_tsvector('simple'::regconfig, text)"
        )
        return cursor.fetchone()[0]


def test_search_answers_the_same_before_and_after_indexing(api, library):
    assert unindexed() == Chunk.objects.count() == 7
    before = answers(api, library)

    assert search_index.index_pending() == 7

    assert unindexed() == 0 and mismatched() == 0
    assert answers(api, library) == before
    assert before["harbour"][0][0] == "Harbour notes"  # its title too: ranked first
    assert len({hit[1] for hit in before["harbour"]}) > 1  # real ranks, not all equal
    assert {hit[0] for hit in before["harbour"]} == {"Harbour notes", "Split", "Tides"}


def test_half_indexed_documents_answer_as_indexed_ones(api, library):
    before = answers(api, library)
    # Some of a document's chunks indexed and others not: the state while the
    # indexer is part-way through.
    first = Chunk.objects.filter(index=0).values_list("pk", flat=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ingest_chunk SET search = to_tsvector('simple'::regconfig, text) "
            "WHERE id = ANY(%s)",
            [list(first)],
        )
    assert 0 < unindexed() < 7

    assert answers(api, library) == before


def test_the_indexer_works_in_batches_and_is_idempotent(library):
    assert search_index.index_pending(batch=3) == 7
    assert search_index.index_pending(batch=3) == 0
    assert not search_index.pending()


def test_search_reads_the_index_of_unindexed_chunks(project, library):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = selectors.document_list(project=project, q="harbour")[:25].explain()
    assert "ingest_chunk_search_pending" in plan
    assert "ingest_chunk_search_gin" in plan


@pytest.mark.django_db(transaction=True)
def test_two_indexers_share_the_work_without_waiting_on_each_other(project):
    texts = [f"chunk number {i} of the shared work" for i in range(2000)]
    document(project, "Many", *texts)
    counts, errors = [], []

    def index():
        try:
            counts.append(search_index.index_pending(batch=50))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=index) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors
    assert sum(counts) == 2000  # every chunk indexed once: none twice, none missed
    assert unindexed() == 0 and mismatched() == 0


# --- scheduling: one task waiting, at the front of the queue -----------------------------


def queued_functions() -> list[str]:
    return [job.func_name for job in django_rq.get_queue(QUEUE_NAME).jobs]


def test_schedule_puts_one_task_at_the_front_of_the_queue(library):
    queue = django_rq.get_queue(QUEUE_NAME, commit_mode="auto")
    queue.enqueue("ingest.tasks.run_ingest_job", "a-job")

    assert search_index.schedule()
    assert not search_index.schedule()  # one is waiting: enough

    assert queued_functions() == ["ingest.tasks.index_search", "ingest.tasks.run_ingest_job"]


def test_a_running_task_lets_the_next_commit_schedule_another(library):
    assert search_index.schedule()
    [task] = django_rq.get_queue(QUEUE_NAME).jobs

    assert task.perform() == 7  # the task as a worker runs it: mark cleared, chunks indexed

    assert search_index.schedule()
    assert len(queued_functions()) == 2


def test_without_redis_scheduling_is_logged_and_left_to_the_reaper(library, monkeypatch, caplog):
    monkeypatch.setitem(django_rq.settings.QUEUES, QUEUE_NAME, {"URL": "redis://127.0.0.1:1/0"})
    assert search_index.schedule() is False
    assert "the reaper will" in caplog.text


def test_the_reaper_schedules_the_indexer_only_while_chunks_wait(library):
    class NothingToReap:
        def reap(self):
            return None

    ReaperCommand().reap_once(NothingToReap())
    assert queued_functions() == ["ingest.tasks.index_search"]

    search_index.run()
    django_rq.get_queue(QUEUE_NAME).empty()
    ReaperCommand().reap_once(NothingToReap())
    assert queued_functions() == []


# --- the pipeline writes unindexed chunks and schedules the indexer ------------------------


@pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])
def test_a_written_file_schedules_indexing_once_it_commits(api, project):
    content = Path("/usr/share/doc/adduser/copyright").read_bytes()
    job = running_job(project=project, chunk_size=400, chunk_overlap=0)
    add_file(job, "copyright.txt", content)
    add_file(job, "again.txt", content + b"\nOnce more.")

    run(job)

    written = Chunk.objects.count()
    assert written > 2 and unindexed() == written  # written without vectors
    assert queued_functions() == ["ingest.tasks.index_search"]  # two files, one task
    [hit] = search(api, project, '"GNU General Public License" once')
    assert hit["title"] == "again.txt"

    [task] = django_rq.get_queue(QUEUE_NAME).jobs
    assert task.perform() == written
    assert mismatched() == 0
    [hit] = search(api, project, '"GNU General Public License" once')
    assert hit["title"] == "again.txt"
