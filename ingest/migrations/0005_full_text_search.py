import django.contrib.postgres.search
from django.db import migrations, models

import ingest.models

# GIN indexes exist only on PostgreSQL (SQLite's column is NULL and unused),
# so they are made here rather than declared in the models' Meta, which
# would emit "USING gin" on SQLite too.
INDEXES = [
    ("ingest_chunk_search_gin", "ingest_chunk"),
    ("ingest_document_search_gin", "ingest_document"),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table in INDEXES:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin (search)')


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0004_ingestjob_retry_of"),
    ]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="search",
            field=models.GeneratedField(
                db_persist=True,
                expression=ingest.models.SearchableText("text", config="simple"),
                output_field=django.contrib.postgres.search.SearchVectorField(null=True),
            ),
        ),
        migrations.AddField(
            model_name="document",
            name="search",
            field=models.GeneratedField(
                db_persist=True,
                expression=ingest.models.SearchableText("title", config="simple"),
                output_field=django.contrib.postgres.search.SearchVectorField(null=True),
            ),
        ),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
