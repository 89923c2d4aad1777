"""API rate limits, counted in Redis so that every web process shares them.

DRF's throttles keep each caller's whole history (a timestamp per request in
the window) in the cache, and read and write all of it back on every
request: a busy caller's request unpickled, trimmed and pickled up to a
rate's worth of floats. These count instead, one round trip and a few bytes
whatever the rate (bench.internals, "throttle"): a counter per caller and fixed window, and
the sliding window estimated from the current window's count and the
previous one's, weighted by how much of it still overlaps
(``previous * (1 - elapsed) + current``). A refused request is not counted,
as in DRF.

A Redis outage lets requests through instead of failing them, as live events
do (the database is the source of truth; a limit is a courtesy, not a reason
to go down). The rates are read from the settings at each request, so they
can be changed in one place (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, from
the environment); where the counts live, from ``API_THROTTLE_REDIS``.
"""

import functools
import logging
import time

import redis
from django.conf import settings
from redis.exceptions import RedisError
from rest_framework import throttling
from rest_framework.settings import api_settings

logger = logging.getLogger(__name__)

# Counts the request if the estimate leaves room for it; answers whether it
# did, the current window's count and the previous window's.
COUNT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * tonumber(ARGV[1]) + current >= tonumber(ARGV[2]) then
    return {0, current, previous}
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, current + 1, previous}
"""


def counter():
    """The counting script, bound to a Redis client for ``API_THROTTLE_REDIS``."""
    config = settings.API_THROTTLE_REDIS
    return _counter(config["URL"], config["TIMEOUT"])


@functools.cache
def _counter(url: str, timeout: float):
    # One client, with its pool of connections, per process: made per request
    # (as Django's cache made its client per thread and async context under
    # ASGI), it opened a new connection to count each request.
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return client.register_script(COUNT)


class SharedRate:
    """The counting of DRF's ``SimpleRateThrottle``, replaced; its rates,
    scopes and cache keys (per user, per address) kept."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            return self.count()
        except (RedisError, OSError) as exc:
            logger.warning("rate limit not checked, Redis unavailable: %s", exc)
            return True

    def count(self) -> bool:
        window, offset = divmod(time.time(), self.duration)
        self.elapsed = offset / self.duration
        prefix = f"{settings.API_THROTTLE_REDIS['KEY_PREFIX']}:{self.key}"
        allowed, self.current, self.previous = counter()(
            keys=[f"{prefix}:{int(window)}", f"{prefix}:{int(window) - 1}"],
            args=[1 - self.elapsed, self.num_requests, 2 * self.duration],
        )
        return bool(allowed)

    def wait(self) -> float:
        """Seconds until the estimate leaves room for one more request, if
        the caller sends none meanwhile (the ``Retry-After``)."""
        left = (1 - self.elapsed) * self.duration  # of the current window
        if self.current >= self.num_requests:
            return left  # then the previous window weighs less than the limit
        # previous * (1 - elapsed - t / duration) + current < num_requests
        room = (self.num_requests - self.current) / self.previous
        return max(0.0, left - room * self.duration)


class AnonRateThrottle(SharedRate, throttling.AnonRateThrottle):
    """Callers not logged in, per address."""


class UserRateThrottle(SharedRate, throttling.UserRateThrottle):
    """Logged-in callers (session or token), per user."""
