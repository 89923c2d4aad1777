"""The RQ worker class (``RQ["WORKER_CLASS"]``): ``rqworker ingest`` needs no flags.

Two things plain RQ does not do for a Django project:

- A forked work horse must not inherit the parent's database sockets: both
  processes would talk over the same connection and corrupt it. So every
  connection is closed right before the fork.
- SIGTERM (a deploy, ``honcho`` stopping) must not wait for a long job to
  finish, nor kill it mid-file. The worker forwards the request to the horse,
  which stops at its next checkpoint and puts the job back in the queue with
  its finished files kept; a second signal is RQ's usual cold shutdown.
- A Redis that restarts (and keeps nothing on disk) forgets which workers
  exist, and RQ registers a worker only once, at its start: readiness would
  say "no worker is listening" for as long as the workers ran. A heartbeat
  that finds its worker unregistered registers it again, and the worker
  waits at most ``max_connection_wait_time`` between tries of a Redis that
  is down, and heartbeats every ``job_monitoring_interval`` while a horse
  works: registered again within seconds of Redis returning. A heartbeat
  that finds Redis down while a horse works is skipped, not raised: RQ
  would let the error end the worker and orphan the horse mid-file. A job
  that ends while Redis is down leaves RQ's bookkeeping unwritten (the
  database holds the job's state); the worker waits for Redis, then goes on.
- A worker killed without a goodbye (SIGKILL, a lost host) stays registered
  until its key expires, a worker TTL and a minute after its last heartbeat:
  RQ's 420 s TTL kept one counted for about 470 s. An idle worker beats once
  per wait for a job (its TTL less 15 s), so ``WORKER_TTL`` is short, and
  :func:`live_workers` counts only workers that beat within it.
"""

import signal
import time
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import worker_registration
from rq.defaults import DEFAULT_WORKER_TTL
from rq.utils import now, utcparse
from rq.worker import Worker as RQWorker

from jobs.runner import install_shutdown_handler

# Seconds: an idle worker beats every WORKER_TTL - 15 s, a busy one every
# job_monitoring_interval; one silent for longer is not counted as alive.
WORKER_TTL = 30


class Worker(RQWorker):
    max_connection_wait_time = 2.0  # RQ's 60 s would leave it unregistered for a minute

    # RQ checks on its horse (and heartbeats) every 30 s; a worker whose horse works
    # through a Redis restart would stay unregistered that long (bench.soak).
    def __init__(self, *args, job_monitoring_interval: int = 2, worker_ttl=None, **kwargs):
        # django-rq's rqworker passes RQ's default when no --worker-ttl is given.
        if worker_ttl in (None, DEFAULT_WORKER_TTL):
            worker_ttl = WORKER_TTL
        super().__init__(
            *args, job_monitoring_interval=job_monitoring_interval, worker_ttl=worker_ttl, **kwargs
        )

    def heartbeat(self, timeout=None, pipeline=None):
        super().heartbeat(timeout, pipeline)
        # On the connection itself: a pipeline's commands answer only once it runs.
        if not self.connection.sismember(self.redis_workers_keys, self.key):
            self.log.warning(
                "worker %s was not registered (Redis restarted?): registering", self.name
            )
            with self.connection.pipeline() as again:
                again.hset(self.key, mapping=self.serialize())
                worker_registration.register(self, again)
                again.expire(self.key, timeout or self.worker_ttl + 60)
                again.execute()

    def maintain_heartbeats(self, job, execution):
        # The horse reads its cancel flag from the database and goes on while
        # Redis is away; its worker waits for it, and beats again next time.
        try:
            super().maintain_heartbeats(job, execution)
        except (RedisConnectionError, RedisTimeoutError) as error:
            self.log.warning("heartbeat skipped, Redis unreachable: %s", error)

    def execute_job(self, job, queue):
        self._horse_started = False
        try:
            super().execute_job(job, queue)
        except (RedisConnectionError, RedisTimeoutError) as error:
            if not self._horse_started or self.horse_pid:
                raise  # before a horse, or with one still working: RQ's to handle
            self.log.warning("job %s ended while Redis was unreachable: %s", job.id, error)
        self.wait_for_redis()

    def wait_for_redis(self) -> None:
        """Return once Redis answers, or a stop is requested: RQ's loop asks
        Redis before it waits for a job, and would end the worker."""
        pause = 0.5
        while not self._stop_requested:
            try:
                self.connection.ping()
                return
            except (RedisConnectionError, RedisTimeoutError):
                time.sleep(pause)
                pause = min(pause * 2, self.max_connection_wait_time)

    def work(self, *args, **kwargs):
        # A pool keeps connections and a thread that a forked horse would
        # inherit: the same sockets in two processes. DATABASE_POOL is for the
        # web processes; set for a worker (a shared .env, a parent process's
        # environment), it is refused here rather than corrupting connections.
        pooled = [
            alias
            for alias in connections
            if connections[alias].settings_dict.get("OPTIONS", {}).get("pool")
        ]
        if pooled:
            raise ImproperlyConfigured(
                f"DATABASE_POOL is on for {', '.join(sorted(pooled))}: a worker forks a work "
                "horse per job, and a pool's connections must not cross a fork. Unset "
                "DATABASE_POOL for the workers (it is for the web processes)."
            )
        return super().work(*args, **kwargs)

    def fork_work_horse(self, job, queue):
        connections.close_all()
        super().fork_work_horse(job, queue)
        self._horse_started = True

    def setup_work_horse_signals(self):
        super().setup_work_horse_signals()
        install_shutdown_handler()

    def handle_warm_shutdown_request(self):
        # RQ's hook for a warm shutdown, as its HerokuWorker uses it. Without a
        # horse, kill_horse() would signal the worker's own process group.
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            self.kill_horse(sig=signal.SIGTERM)


def live_workers(queue) -> int:
    """Workers registered on ``queue`` whose last heartbeat is at most
    ``WORKER_TTL`` seconds old, on every host (their clocks kept in step)."""
    keys = list(worker_registration.get_keys(queue=queue))
    if not keys:
        return 0
    pipe = queue.connection.pipeline()
    for key in keys:
        pipe.hget(key, "last_heartbeat")
    oldest = now() - timedelta(seconds=WORKER_TTL)
    beats = [beat.decode() if isinstance(beat, bytes) else beat for beat in pipe.execute()]
    return sum(1 for beat in beats if beat and utcparse(beat) >= oldest)
