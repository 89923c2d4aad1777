"""The worker refuses to run with a pool of database connections."""

import django_rq
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from jobs.worker import Worker


def test_a_worker_with_database_pool_on_refuses_to_start(monkeypatch):
    # DATABASE_POOL is for the web processes: a work horse forks, and a pool's
    # connections and thread must not cross the fork.
    settings = connections["default"].settings_dict
    options = {**settings.get("OPTIONS", {}), "pool": {"min_size": 1, "max_size": 2}}
    monkeypatch.setitem(settings, "OPTIONS", options)
    worker = Worker(["ingest"], connection=django_rq.get_connection("ingest"))

    with pytest.raises(ImproperlyConfigured, match="Unset DATABASE_POOL for the workers"):
        worker.work(burst=True)
