import django.contrib.postgres.search
from django.contrib.postgres.search import SearchVector
from django.db import migrations, models


class SearchableText(SearchVector):
    """A column's words as PostgreSQL's parser found them: the generated
    search columns made here, replaced by the analyzer's in 0010."""

    def as_sqlite(self, compiler, connection, **extra_context):
        return "NULL", []


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
                expression=SearchableText("text", config="simple"),
                output_field=django.contrib.postgres.search.SearchVectorField(null=True),
            ),
        ),
        migrations.AddField(
            model_name="document",
            name="search",
            field=models.GeneratedField(
                db_persist=True,
                expression=SearchableText("title", config="simple"),
                output_field=django.contrib.postgres.search.SearchVectorField(null=True),
            ),
        ),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
