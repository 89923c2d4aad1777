"""What a job's representation says of it, kept on its row: how many of its
files failed (``progress.files_failed``), the status a deleted job had before
its delete, and whether a cleanup removed its uploads (no retry then).

Existing jobs get theirs from their files and their audit trail."""

from django.db import migrations, models
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

STATUSES = [
    ("queued", "Queued"),
    ("running", "Running"),
    ("cancelling", "Cancelling"),
    ("completed", "Completed"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
]


def fill_in(apps, schema_editor):
    alias = schema_editor.connection.alias
    IngestJob = apps.get_model("ingest", "IngestJob")
    IngestFile = apps.get_model("ingest", "IngestFile")
    JobEvent = apps.get_model("jobs", "JobEvent")
    ContentType = apps.get_model("contenttypes", "ContentType")
    jobs = IngestJob._base_manager.using(alias)  # deleted jobs included
    failed = (
        IngestFile.objects.using(alias)
        .filter(job=OuterRef("pk"), status="failed")
        .order_by()
        .values("job")
        .annotate(total=Count("*"))
        .values("total")
    )
    jobs.update(items_failed=Coalesce(Subquery(failed), 0))
    kind = ContentType.objects.using(alias).filter(app_label="ingest", model="ingestjob").first()
    if kind is None:  # a database with no job yet
        return
    trail = JobEvent.objects.using(alias).filter(content_type=kind, job_id=OuterRef("pk"))
    deletion = trail.filter(action="delete").order_by("-at", "-id").values("from_status")[:1]
    jobs.filter(deleted_at__isnull=False).update(
        status_before_delete=Coalesce(Subquery(deletion), models.Value("cancelled"))
    )
    cleanup = trail.filter(action="cleanup").order_by("at", "id").values("at")[:1]
    jobs.filter(Q(uploads_removed_at__isnull=True)).update(uploads_removed_at=Subquery(cleanup))


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0010_search_index_from_the_analyzer"),
        ("jobs", "0004_cleanup_counts_in_extra"),
    ]

    operations = [
        migrations.AddField(
            model_name="ingestjob",
            name="items_failed",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="ingestjob",
            name="status_before_delete",
            field=models.CharField(blank=True, choices=STATUSES, editable=False, max_length=16),
        ),
        migrations.AddField(
            model_name="ingestjob",
            name="uploads_removed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(fill_in, migrations.RunPython.noop, elidable=True),
    ]
