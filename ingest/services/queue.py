"""The RQ client: the ingest queue, a job put on it and taken off it.

The user's writes to a job (cancel, delete) are in ``ingest.services.jobs``."""

import functools
import logging

import django_rq
import redis
from django.conf import settings
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob

from ingest.models import IngestJob

logger = logging.getLogger(__name__)

QUEUE_NAME = "ingest"


def ingest_queue(**options) -> django_rq.queues.DjangoRQ:
    """The ingest queue (``options`` as ``django_rq.get_queue`` takes them),
    on the process's one Redis client for it.

    ``django_rq.get_queue`` makes a new client each call, with a pool of its
    own, so every call opened a new connection, and redis-py's handshake
    looked its own version up in the package metadata (the cancel's cost in
    bench.api_latency).
    """
    url = settings.RQ_QUEUES[QUEUE_NAME]["URL"]  # read each call: tests point it elsewhere
    return django_rq.get_queue(QUEUE_NAME, connection=_client(url), **options)


@functools.cache
def _client(url: str) -> redis.Redis:
    # redis-py's pool opens new connections in a forked child (an RQ work
    # horse) rather than share the parent's.
    return redis.Redis.from_url(url)


def job_enqueue(*, job: IngestJob) -> bool:
    """Put the job on the RQ queue under its own id. A Redis outage is logged,
    not raised: the job stays QUEUED in the database and the reaper enqueues
    it again once Redis is back."""
    try:
        queue = ingest_queue(commit_mode="auto")
        queue.enqueue(
            "ingest.tasks.run_ingest_job",
            str(job.pk),
            job_id=str(job.pk),
            job_timeout=settings.INGEST_JOB_TIMEOUT_SECONDS,
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
            description=f"ingest {job.name}",
        )
    except RedisError as exc:
        logger.warning("job %s not enqueued (Redis unavailable: %s); the reaper will", job.pk, exc)
        return False
    return True


def remove_from_queue(*, job_id: str) -> None:
    """Take a job off the queue and delete RQ's record of it. RQ's ``delete``
    sends each of its removals on its own; in one pipeline they are one round
    trip (a queued job's cancel, bench.api_latency)."""
    queue = ingest_queue()
    try:
        job = RQJob.fetch(job_id, connection=queue.connection)
        with queue.connection.pipeline() as pipeline:
            job.delete(pipeline=pipeline, remove_from_queue=True)
            pipeline.execute()
        return
    except NoSuchJobError:
        pass  # RQ's record is gone; its id may still be listed
    except ValueError as exc:
        # RQ raises it when a worker killed mid-job left an execution listed
        # that Redis no longer holds; the job still leaves the queue below.
        logger.warning("job %s: RQ could not delete its record: %s", job_id, exc)
    except RedisError as exc:
        # Harmless: a worker that dequeues it finds the job not QUEUED and
        # returns. The cancel has committed by now.
        logger.warning("job %s could not be removed from the queue: %s", job_id, exc)
        return
    try:
        queue.remove(job_id)
    except RedisError as exc:
        logger.warning("job %s could not be removed from the queue: %s", job_id, exc)
