"""API rate limits, counted in Redis so that every web process shares them.

DRF's own throttles, with two changes: the counts live in the ``throttle``
cache (Redis) rather than each process's memory, and a Redis outage lets
requests through instead of failing them, as live events do (the database is
the source of truth; a limit is a courtesy, not a reason to go down). The
rates are read from the settings at each request, so they can be changed in
one place (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, from the environment).
"""

import functools
import logging

import redis
from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework import throttling
from rest_framework.settings import api_settings

logger = logging.getLogger(__name__)


class ProcessConnectionPool(redis.ConnectionPool):
    """One pool of Redis connections per process and URL, for the ``throttle``
    cache (its ``pool_class``). Django keeps a cache object per thread and
    async context, so under ASGI every request built a new RedisCache, with a
    new pool: a new Redis connection per request, to count one request."""

    @classmethod
    @functools.cache
    def from_url(cls, url, **options):
        return super().from_url(url, **options)


class SharedRate:
    @property
    def cache(self):
        return caches["throttle"]

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            logger.warning("rate limit not checked, Redis unavailable: %s", exc)
            return True


class AnonRateThrottle(SharedRate, throttling.AnonRateThrottle):
    """Callers not logged in, per address."""


class UserRateThrottle(SharedRate, throttling.UserRateThrottle):
    """Logged-in callers (session or token), per user."""
