"""``GET /metrics``: Prometheus' text format, figured at scrape time.

Every figure is read from the database and Redis when Prometheus scrapes, by
a custom collector, not counted in the process that serves the request: the
work happens in work horses on any number of hosts, and any web process may
answer a scrape, so only the shared stores know the totals. Nothing has to be
pushed, and a restarted process loses nothing.

The counters and histograms come from the job and file rows, deleted jobs
included. A purge removes rows, so the figures drop when old jobs are purged;
Prometheus reads a drop as a counter reset, as after a restart (``rate()`` and
``increase()`` handle it, the raw value starts lower).
"""

import hmac
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from redis.exceptions import RedisError

from ingest.models import FileStatus, IngestFile, IngestJob
from ingest.services import ingest_queue
from jobs.models import JobStatus
from jobs.worker import live_workers

CANCEL_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
JOB_DURATION_BUCKETS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600, 24 * 3600)
PROCESSED = [FileStatus.DONE, FileStatus.DUPLICATE, FileStatus.FAILED]
FINISHED = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]


class IngestCollector:
    """The figures DESIGN names, from the database and Redis at each scrape."""

    def collect(self):
        yield self.jobs_by_status()
        yield from self.queue()
        yield self.histogram(
            "ingest_cancel_latency_seconds",
            "Time from a cancel request to the job being CANCELLED.",
            IngestJob.all_objects.filter(
                status=JobStatus.CANCELLED,
                cancel_requested_at__isnull=False,
                finished_at__isnull=False,
            ),
            start="cancel_requested_at",
            buckets=CANCEL_LATENCY_BUCKETS,
        )
        yield self.job_durations()
        yield from self.files_processed()

    def jobs_by_status(self) -> GaugeMetricFamily:
        counts = dict(
            IngestJob.objects.order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        family = GaugeMetricFamily(
            "ingest_jobs", "Jobs by status (deleted jobs not counted).", labels=["status"]
        )
        for status in JobStatus.values:
            family.add_metric([status], counts.get(status, 0))
        return family

    def queue(self):
        oldest = (
            IngestJob.objects.filter(status=JobStatus.QUEUED)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "ingest_oldest_queued_seconds",
            "Age of the oldest job still QUEUED (0 when none is).",
            value=max(age, 0.0),
        )
        try:
            queue = ingest_queue()
            depth = queue.count
            workers = live_workers(queue)
        except RedisError:
            # Without Redis there is no queue to measure: say so, not zero.
            yield GaugeMetricFamily("ingest_redis_up", "Whether Redis answered.", value=0)
            return
        yield GaugeMetricFamily("ingest_redis_up", "Whether Redis answered.", value=1)
        yield GaugeMetricFamily(
            "ingest_queue_depth", "Jobs waiting in the RQ queue for a worker.", value=depth
        )
        yield GaugeMetricFamily(
            "ingest_workers", "RQ workers alive on the ingest queue, on every host.", value=workers
        )

    def job_durations(self) -> HistogramMetricFamily:
        family = None
        for status in FINISHED:
            jobs = IngestJob.all_objects.filter(
                status=status, started_at__isnull=False, finished_at__isnull=False
            )
            family = self.histogram(
                "ingest_job_duration_seconds",
                "Time from a job's start on a worker to its end, by how it ended.",
                jobs,
                start="started_at",
                buckets=JOB_DURATION_BUCKETS,
                label=status,
                family=family,
            )
        return family

    def histogram(self, name, documentation, jobs, *, start, buckets, label=None, family=None):
        """One aggregate query: a count per bucket (``le``), the sum and the count."""
        took = ExpressionWrapper(F("finished_at") - F(start), output_field=DurationField())
        jobs = jobs.order_by().annotate(took=took)
        figures = jobs.aggregate(
            total=Coalesce(Sum("took"), timedelta(0)),
            count=Count("pk"),
            **{
                f"le{i}": Count("pk", filter=Q(took__lte=timedelta(seconds=bound)))
                for i, bound in enumerate(buckets)
            },
        )
        cumulative = [(str(float(b)), figures[f"le{i}"]) for i, b in enumerate(buckets)]
        cumulative.append(("+Inf", figures["count"]))
        if family is None:
            labels = ["status"] if label else []
            family = HistogramMetricFamily(name, documentation, labels=labels)
        family.add_metric([label] if label else [], cumulative, figures["total"].total_seconds())
        return family

    def files_processed(self):
        rows = (
            IngestFile.objects.filter(status__in=PROCESSED)
            .order_by()
            .values("status")
            .annotate(n=Count("pk"), size=Sum("size"))
        )
        by_status = {row["status"]: row for row in rows}
        files = CounterMetricFamily(
            "ingest_files_processed",
            "Files that reached an end (done, duplicate or failed).",
            labels=["status"],
        )
        for status in PROCESSED:
            files.add_metric([status], by_status.get(status, {}).get("n", 0))
        yield files
        yield CounterMetricFamily(
            "ingest_bytes_processed",
            "Bytes of uploaded files that reached an end.",
            value=sum(row["size"] or 0 for row in by_status.values()),
        )


registry = CollectorRegistry(auto_describe=False)
registry.register(IngestCollector())


@require_GET
def metrics(request):
    token = settings.INGEST_METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # Compared as bytes: compare_digest refuses a str that is not ASCII.
        given = given.strip().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given, token.encode()):
            response = JsonResponse(
                {
                    "detail": "send the metrics token as 'Authorization: Bearer <token>'.",
                    "code": "not_authenticated",
                },
                status=401,
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
