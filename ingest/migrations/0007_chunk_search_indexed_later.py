import django.contrib.postgres.search
from django.db import migrations

# A chunk's search vector is no longer a generated column: PostgreSQL computed
# it inside the pipeline's COPY, which bound ingestion to the speed of
# to_tsvector. It is now filled afterwards by the search indexer
# (ingest/search_index.py), which finds the chunks it has not reached through
# the partial index below. Existing chunks start unindexed: the reaper sees
# them and schedules the indexer, so this migration does not hold the table
# for as long as indexing every chunk would take.
GIN = ("ingest_chunk_search_gin", "USING gin (search)")
PENDING = ("ingest_chunk_search_pending", "(id) WHERE search IS NULL")


def indexes(*wanted):
    """Two functions for RunPython: create the ``wanted`` indexes, drop them."""

    def run(schema_editor, sql):
        if schema_editor.connection.vendor == "postgresql":
            for name, definition in wanted:
                schema_editor.execute(sql.format(name=name, definition=definition))

    def create(apps, schema_editor):
        run(schema_editor, 'CREATE INDEX IF NOT EXISTS "{name}" ON "ingest_chunk" {definition}')

    def drop(apps, schema_editor):
        run(schema_editor, 'DROP INDEX IF EXISTS "{name}"')

    return create, drop


create_gin, drop_gin = indexes(GIN)
create_both, drop_both = indexes(GIN, PENDING)


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0006_ingestfile_details"),
    ]

    operations = [
        # Django does not alter a generated column into a plain one: the
        # column is dropped (its GIN index with it) and added again.
        migrations.RunPython(drop_gin, create_gin, elidable=False),
        migrations.RemoveField(model_name="chunk", name="search"),
        migrations.AddField(
            model_name="chunk",
            name="search",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(create_both, drop_both, elidable=False),
    ]
