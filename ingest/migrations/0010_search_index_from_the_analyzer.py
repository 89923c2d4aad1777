"""The search index is made by ingest.search's analyzer, on both databases.

The generated columns of 0005 (PostgreSQL's parser, inside the database)
become columns the worker fills: ``terms`` (the tokens) and, on PostgreSQL,
``search`` (their tsvector, GIN-indexed). On SQLite, FTS5 tables and their
triggers (ingest.search.fts5). Rows already there are analyzed here, in
batches.
"""

import django.contrib.postgres.search
from django.db import migrations, models

BATCH = 2000
GIN_INDEXES = [
    ("ingest_chunk_search_gin", "ingest_chunk"),
    ("ingest_document_search_gin", "ingest_document"),
]


def _analyzed(text, postgresql):
    from ingest.search.analyzer import Indexed

    indexed = Indexed(text)
    return indexed.terms.decode(), indexed.vector_literal() if postgresql else None


def fill(apps, schema_editor):
    connection = schema_editor.connection
    postgresql = connection.vendor == "postgresql"
    Document = apps.get_model("ingest", "Document")
    Chunk = apps.get_model("ingest", "Chunk")
    documents = Document.objects.order_by("created_at", "id").values_list("id", "title")
    for key, (pk, title) in enumerate(list(documents.iterator(chunk_size=BATCH)), start=1):
        terms, vector = _analyzed(title, postgresql)
        Document.objects.filter(pk=pk).update(
            terms=terms, search=vector, search_key=None if postgresql else key
        )
    with connection.cursor() as cursor:
        last = 0
        while True:
            rows = list(
                Chunk.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "text")[:BATCH]
            )
            if not rows:
                break
            cursor.executemany(
                "UPDATE ingest_chunk SET terms = %s, search = %s WHERE id = %s",
                [(*_analyzed(text, postgresql), pk) for pk, text in rows],
            )
            last = rows[-1][0]
        if postgresql:
            # A chunk's row (its text, terms and vector) is about 2.5 KB: over
            # the default 2 KB target, PostgreSQL compressed every row it wrote.
            cursor.execute("ALTER TABLE ingest_chunk SET (toast_tuple_target = 8160)")
            for name, table in GIN_INDEXES:
                cursor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin (search)')
        else:
            from ingest.search import fts5

            fts5.create_tables(cursor)
            fts5.fill(cursor)
            fts5.create_triggers(cursor)


def unfill(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE ingest_chunk RESET (toast_tuple_target)")
            for name, _ in GIN_INDEXES:
                cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        else:
            from ingest.search import fts5

            fts5.drop(cursor)


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0009_file_members"),
    ]

    operations = [
        migrations.RemoveField(model_name="chunk", name="search"),
        migrations.RemoveField(model_name="document", name="search"),
        migrations.AddField(
            model_name="chunk",
            name="terms",
            field=models.TextField(default="", editable=False),
        ),
        migrations.AddField(
            model_name="chunk",
            name="search",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="document",
            name="terms",
            field=models.TextField(default="", editable=False),
        ),
        migrations.AddField(
            model_name="document",
            name="search",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="document",
            name="search_key",
            field=models.BigIntegerField(editable=False, null=True, unique=True),
        ),
        migrations.RunPython(fill, unfill, elidable=False),
    ]
