"""Live events on Redis pub/sub: every transition and progress step, as JSON.

Publishing is best effort. The database row is the source of truth, so a
Redis outage must never break a job or an API request: failures are logged
and swallowed, and a short socket timeout keeps a dead Redis from stalling
the caller.
"""

import json
import logging
import os
from functools import lru_cache

import redis
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _client(pid: int) -> redis.Redis:
    # Keyed by pid: a forked work horse builds its own client instead of
    # sharing the parent's sockets.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)


def snapshot(job) -> dict:
    return {
        "job": str(job.pk),
        "status": job.status,
        "version": job.version,
        "items_total": job.items_total,
        "items_done": job.items_done,
        "items_failed": job.items_failed,
        "bytes_total": job.bytes_total,
        "bytes_done": job.bytes_done,
        "percent": job.percent,
        "deleted": job.deleted_at is not None,
    }


def publish(target, kind: str, **payload) -> None:
    message = {"type": kind, "at": timezone.now().isoformat(), **payload}
    try:
        _client(os.getpid()).publish(target.event_channel, json.dumps(message, default=str))
    except redis.RedisError as exc:
        logger.warning("could not publish %s event for job %s: %s", kind, target.pk, exc)


def publish_transition(job, from_status: str, to_status: str, action: str) -> None:
    publish(job, "transition", action=action, from_status=from_status, **snapshot(job))


def publish_progress(job) -> None:
    publish(job, "progress", **snapshot(job))
