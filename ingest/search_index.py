"""The chunks' search index, filled after the chunks are written.

Computing a chunk's words (PostgreSQL's ``to_tsvector``) costs far more than
writing it: as a generated column, computed inside the pipeline's COPY, it
held a job to about 2 MB/s of text while the same rows without it were
written at about 100 MB/s (``bench.pipeline_throughput``). So a job writes
its chunks with ``search`` NULL, and once a file's transaction commits it
schedules an indexing task: it goes to the front of the RQ queue, any worker
takes it before the next job (a second worker, at once), and it fills the
vectors in batches, each committed on its own, that concurrent indexers
share without waiting on one another (``SKIP LOCKED``).

Nothing is lost meanwhile: search reads the words of a chunk not indexed
yet from its text (``ingest.search``), so it answers the same before and
after. The reaper schedules the indexer whenever chunks are waiting and no
task is queued (a worker killed mid-batch, Redis down, an upgrade from when
the column was generated). SQLite has no text search: nothing to index.
"""

import logging

import django_rq
from django.db import connection
from redis.exceptions import RedisError

from ingest.models import SEARCH_CONFIG, Chunk
from ingest.queues import QUEUE_NAME

logger = logging.getLogger(__name__)

BATCH = 500  # chunks per UPDATE and commit: about 0.1 s of to_tsvector
# Set while an indexing task waits in the queue: one waiting task is enough,
# since a task indexes until nothing is left. The task clears it as it
# starts, so chunks committed while it runs schedule the next one. It
# expires in case the task is lost with the queue.
QUEUED_KEY = "ingest:search-index:queued"
QUEUED_TTL = 600

_INDEX_BATCH = (
    f"UPDATE {Chunk._meta.db_table} SET search = to_tsvector(%s::regconfig, text) "
    f"WHERE id IN (SELECT id FROM {Chunk._meta.db_table} WHERE search IS NULL "
    "LIMIT %s FOR UPDATE SKIP LOCKED)"
)


def enabled() -> bool:
    return connection.vendor == "postgresql"


def pending() -> bool:
    """Whether some committed chunk is not indexed yet (the partial index)."""
    return enabled() and Chunk.objects.filter(search__isnull=True).exists()


def index_pending(*, batch: int = BATCH) -> int:
    """Index every chunk not indexed yet, a batch per transaction; how many."""
    if not enabled():
        return 0
    total = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_INDEX_BATCH, [SEARCH_CONFIG, batch])
            done = cursor.rowcount
        if not done:
            return total
        total += done


def run() -> int:
    """The indexing task's work: clear the queued mark, then index."""
    try:
        django_rq.get_connection(QUEUE_NAME).delete(QUEUED_KEY)
    except RedisError as exc:  # the mark expires; indexing need not wait for Redis
        logger.warning("search index: queued mark not cleared (%s)", exc)
    indexed = index_pending()
    logger.info("search index: %d chunks indexed", indexed)
    return indexed


def schedule() -> bool:
    """Put an indexing task at the front of the queue unless one is waiting.
    A Redis outage is logged, not raised: the reaper schedules it later."""
    if not enabled():
        return False
    try:
        queue = django_rq.get_queue(QUEUE_NAME, commit_mode="auto")
        if not queue.connection.set(QUEUED_KEY, 1, nx=True, ex=QUEUED_TTL):
            return False
        try:
            queue.enqueue(
                "ingest.tasks.index_search",
                at_front=True,
                job_timeout=24 * 3600,
                result_ttl=0,
                failure_ttl=7 * 24 * 3600,
                description="index new chunks for search",
            )
        except BaseException:
            queue.connection.delete(QUEUED_KEY)
            raise
    except RedisError as exc:
        logger.warning("search index not scheduled (Redis unavailable: %s); the reaper will", exc)
        return False
    return True


def schedule_if_pending() -> bool:
    """The reaper's pass: schedule the indexer if chunks wait for it."""
    return pending() and schedule()
