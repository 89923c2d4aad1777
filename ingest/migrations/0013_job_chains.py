"""A job records the first job of its chain of retries (``IngestJob.chain``),
filled in here for the retries made before."""

from django.db import migrations, models
from django.db.models import Q


def fill_in(apps, schema_editor):
    IngestJob = apps.get_model("ingest", "IngestJob")
    jobs = IngestJob._base_manager.using(schema_editor.connection.alias)
    parent_of = dict(jobs.filter(retry_of__isnull=False).values_list("pk", "retry_of_id"))
    for job_id in parent_of:
        first = job_id
        while first in parent_of:
            first = parent_of[first]
        jobs.filter(pk__in=[job_id, first]).update(chain=first)


class Migration(migrations.Migration):
    dependencies = [("ingest", "0012_auditors_view_file_members")]

    operations = [
        migrations.AddField(
            model_name="ingestjob",
            name="chain",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="ingestjob",
            index=models.Index(
                condition=Q(chain__isnull=False, deleted_at__isnull=True),
                fields=["chain", "created_at"],
                name="ingestjob_live_chain",
            ),
        ),
        migrations.RunPython(fill_in, migrations.RunPython.noop, elidable=True),
    ]
