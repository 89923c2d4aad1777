"""Liveness and readiness for load balancers and orchestrators: JSON, no login.

``/healthz`` says the process answers. ``/readyz`` says whether the service
can do its work: the database, Redis and the upload storage answer, and at least one worker is
alive to take jobs; it also reports how long the oldest queued job has
waited, the first sign of a queue nobody drains.
"""

import redis
from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rq import Worker
from rq.queue import Queue

from ingest import storage
from ingest.models import IngestJob
from ingest.services import QUEUE_NAME
from jobs.models import JobStatus

PROBE_TIMEOUT = 1.0  # seconds: a dead dependency must not hang the probe


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT
    )
    try:
        checks = {
            "database": check_database(),
            "redis": check_redis(client),
            "workers": check_workers(client),
            "storage": storage.check(),
        }
    finally:
        client.close()
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def check_database() -> dict:
    try:
        oldest = (
            IngestJob.objects.filter(status=JobStatus.QUEUED)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
    except DatabaseError as exc:
        return {"ok": False, "error": f"the database does not answer ({exc})."}
    waited = round((timezone.now() - oldest).total_seconds(), 3) if oldest else None
    return {"ok": True, "oldest_queued_job_age_seconds": waited}


def check_redis(client: redis.Redis) -> dict:
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "error": f"Redis does not answer ({exc})."}
    return {"ok": True}


def check_workers(client: redis.Redis) -> dict:
    try:
        count = Worker.count(connection=client, queue=Queue(QUEUE_NAME, connection=client))
    except redis.RedisError:
        return {"ok": False, "count": None, "error": "workers unknown: Redis does not answer."}
    if not count:
        return {"ok": False, "count": 0, "error": "no worker is listening on the ingest queue."}
    return {"ok": True, "count": count}
