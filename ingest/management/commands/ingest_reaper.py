import logging
import signal
import time
from datetime import timedelta
from pathlib import Path

import django_rq
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from ingest import retention
from ingest.models import IngestJob
from ingest.services import QUEUE_NAME, job_enqueue, purge_deleted_jobs
from jobs.reaper import Reaper

logger = logging.getLogger("ingest.reaper")


class Command(BaseCommand):
    help = (
        "Run the reaper loop: escalate overdue cancels, fail jobs whose worker was lost, "
        "re-enqueue queued jobs Redis lost, remove stale work directories, purge jobs deleted "
        "more than INGEST_PURGE_AFTER_DAYS ago. Run one per host."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument(
            "--purge-interval",
            type=float,
            default=60.0,
            help="seconds between two looks for deleted jobs due for purging",
        )

    def handle(self, *args, interval, once, purge_interval, **options):
        reaper = Reaper(
            model=IngestJob,
            connection=django_rq.get_connection(QUEUE_NAME),
            enqueue=lambda job: job_enqueue(job=job),
            work_root=Path(settings.INGEST_WORK_DIR),
            cancel_grace=timedelta(seconds=settings.INGEST_CANCEL_GRACE_SECONDS),
            heartbeat_timeout=timedelta(seconds=settings.INGEST_HEARTBEAT_TIMEOUT_SECONDS),
            purge=purge_deleted_jobs,
            purge_age=retention.purge_after(),
            purge_interval=purge_interval,
        )
        running = True

        def stop(signum, frame):
            nonlocal running
            running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        logger.info(
            "reaper started (every %.1fs; purge after %s)", interval, reaper.purge_age or "never"
        )
        while running:
            self.reap_once(reaper)
            if once:
                break
            time.sleep(interval)
        logger.info("reaper stopped")

    def reap_once(self, reaper: Reaper) -> None:
        try:
            report = reaper.reap()
        except DatabaseError as exc:
            logger.warning("reaper pass failed, retrying: %s", exc)
            close_old_connections()
            return
        if report:
            logger.info(
                "reaper: escalated=%d lost=%d requeued=%d work_dirs_removed=%d purged=%d",
                len(report.escalated),
                len(report.lost),
                len(report.requeued),
                len(report.work_dirs_removed),
                len(report.purged),
            )
