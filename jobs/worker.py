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
  would let the error end the worker and orphan the horse mid-file.
"""

import signal

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import worker_registration
from rq.worker import Worker as RQWorker

from jobs.runner import install_shutdown_handler


class Worker(RQWorker):
    max_connection_wait_time = 2.0  # RQ's 60 s would leave it unregistered for a minute

    # RQ checks on its horse (and heartbeats) every 30 s; a worker whose horse works
    # through a Redis restart would stay unregistered that long (bench.soak).
    def __init__(self, *args, job_monitoring_interval: int = 2, **kwargs):
        super().__init__(*args, job_monitoring_interval=job_monitoring_interval, **kwargs)

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

    def setup_work_horse_signals(self):
        super().setup_work_horse_signals()
        install_shutdown_handler()

    def handle_warm_shutdown_request(self):
        # RQ's hook for a warm shutdown, as its HerokuWorker uses it. Without a
        # horse, kill_horse() would signal the worker's own process group.
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            self.kill_horse(sig=signal.SIGTERM)
