"""A zip's members and a message's attachments become rows of their own.

Each member's result was appended to its file's ``members`` JSON list, which
rewrote the whole list every time: recording n members cost n^2, and a zip
of 20,000 members grew the file table past a gigabyte. Existing lists are
copied into rows, in their order, then the list goes.
"""

import django.db.models.deletion
from django.db import migrations, models

KEYS = ("name", "status", "document", "chunks", "error")


def copy_members(apps, schema_editor):
    IngestFile = apps.get_model("ingest", "IngestFile")
    FileMember = apps.get_model("ingest", "FileMember")
    for ingest_file in IngestFile.objects.exclude(members=[]).iterator():
        rows = [
            FileMember(
                file=ingest_file,
                position=position,
                name=member.get("name", ""),
                status=member.get("status", "failed"),
                document=member.get("document"),
                chunks=member.get("chunks") or 0,
                error=member.get("error") or "",
                details={k: v for k, v in member.items() if k not in KEYS},
            )
            for position, member in enumerate(ingest_file.members)
        ]
        FileMember.objects.bulk_create(rows)
        IngestFile.objects.filter(pk=ingest_file.pk).update(members_count=len(rows))


def copy_members_back(apps, schema_editor):
    IngestFile = apps.get_model("ingest", "IngestFile")
    FileMember = apps.get_model("ingest", "FileMember")
    for ingest_file in IngestFile.objects.filter(members_count__gt=0).iterator():
        members = []
        for row in FileMember.objects.filter(file=ingest_file).order_by("position"):
            document = str(row.document) if row.document else None
            fields = {"name": row.name, "status": row.status, "document": document}
            members.append({**fields, "chunks": row.chunks, "error": row.error or None, **row.details})
        IngestFile.objects.filter(pk=ingest_file.pk).update(members=members)


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0008_project_unique_name"),
    ]

    operations = [
        migrations.AddField(
            model_name="ingestfile",
            name="members_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.CreateModel(
            name="FileMember",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveIntegerField()),
                ("name", models.TextField()),
                ("status", models.CharField(max_length=16)),
                ("document", models.UUIDField(blank=True, null=True)),
                ("chunks", models.PositiveIntegerField(default=0)),
                ("error", models.TextField(blank=True)),
                ("details", models.JSONField(blank=True, default=dict)),
                (
                    "file",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="member_results",
                        to="ingest.ingestfile",
                    ),
                ),
            ],
            options={
                "ordering": ["file", "position"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("file", "position"), name="filemember_unique_position"
                    )
                ],
            },
        ),
        migrations.RunPython(copy_members, copy_members_back),
        migrations.RemoveField(model_name="ingestfile", name="members"),
    ]
