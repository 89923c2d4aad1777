"""DRF's own rate limits, counted in Django's Redis cache so that every web
process shares them: what ``PRIVATE_APIS`` without "throttle" serves (see
``ingest.api.throttling`` and docs/internals.md). A Redis outage lets
requests through, as there."""

import logging

from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework import throttling
from rest_framework.settings import api_settings

logger = logging.getLogger(__name__)


class SharedCache:
    def get_rate(self):
        # Read at each request, as ingest.api.throttling reads them: DRF's
        # THROTTLE_RATES is read once, when the class is made.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        self.cache = caches["throttle"]
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            logger.warning("rate limit not checked, Redis unavailable: %s", exc)
            return True


class AnonRateThrottle(SharedCache, throttling.AnonRateThrottle):
    """Callers not logged in, per address."""


class UserRateThrottle(SharedCache, throttling.UserRateThrottle):
    """Logged-in callers (session or token), per user."""
