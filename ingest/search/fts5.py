"""SQLite's side of the index: two FTS5 tables and the triggers that keep them.

- ``ingest_document_fts``: each document's title terms, its rowid the
  document's ``search_key``;
- ``ingest_chunk_fts``: each chunk's terms, its rowid ``search_key << 32 |
  index``, so the hits of a search group by document without reading a
  chunk (``ingest.search.hits``; a common word's hits were grouped 3-9x
  faster than by joining the chunks, ``bench.search_latency``).

Both are contentless (the terms live in the rows' own ``terms`` column, so
nothing is stored twice) and split at spaces only: FTS5's ``ascii``
tokenizer leaves non-ASCII characters as they are, and the analyzer's tokens
hold no ASCII separator. A contentless row is deleted by giving its values
back, which the triggers take from the row being deleted.

The triggers make every way of writing and deleting rows keep the index:
the pipeline's inserts, a cleanup's and a project's cascades, tests'
factories. A document gets the next ``search_key`` as it is inserted (and a
save that would blank it keeps it). Chunks are deleted before their
document (Django's cascade, and foreign keys enforced at commit), but the
document's own trigger also takes out what chunks are left, whichever goes
first. SQLite drops a table's triggers with it: a migration that remakes
``ingest_document`` or ``ingest_chunk`` must call ``create_triggers`` again
(``tests/ingest/test_search_index.py`` checks they are all there).
"""

TABLES = ("ingest_document_fts", "ingest_chunk_fts")
KEY = '(d.search_key << 32) | {row}."index"'

_CHUNK_KEY_OF_OLD = "SELECT 'delete', " + KEY.format(row="OLD") + ", OLD.terms"
_CHUNK_KEY_OF_NEW = "SELECT " + KEY.format(row="NEW") + ", NEW.terms"

TRIGGERS = {
    "ingest_document_search_insert": """
        AFTER INSERT ON ingest_document BEGIN
            UPDATE ingest_document
            SET search_key = (SELECT coalesce(max(search_key), 0) + 1 FROM ingest_document)
            WHERE id = NEW.id AND search_key IS NULL;
            INSERT INTO ingest_document_fts (rowid, terms)
            SELECT search_key, terms FROM ingest_document WHERE id = NEW.id;
        END""",
    "ingest_document_search_keep_key": """
        AFTER UPDATE OF search_key ON ingest_document
        WHEN OLD.search_key IS NOT NULL AND NEW.search_key IS NOT OLD.search_key BEGIN
            UPDATE ingest_document SET search_key = OLD.search_key WHERE id = NEW.id;
        END""",
    "ingest_document_search_update": """
        AFTER UPDATE OF terms ON ingest_document BEGIN
            INSERT INTO ingest_document_fts (ingest_document_fts, rowid, terms)
            VALUES ('delete', OLD.search_key, OLD.terms);
            INSERT INTO ingest_document_fts (rowid, terms) VALUES (OLD.search_key, NEW.terms);
        END""",
    "ingest_document_search_delete": f"""
        AFTER DELETE ON ingest_document BEGIN
            INSERT INTO ingest_document_fts (ingest_document_fts, rowid, terms)
            VALUES ('delete', OLD.search_key, OLD.terms);
            INSERT INTO ingest_chunk_fts (ingest_chunk_fts, rowid, terms)
            SELECT 'delete', {KEY.format(row="c")}, c.terms
            FROM ingest_chunk c, (SELECT OLD.search_key AS search_key) d
            WHERE c.document_id = OLD.id;
        END""",
    "ingest_chunk_search_insert": f"""
        AFTER INSERT ON ingest_chunk BEGIN
            INSERT INTO ingest_chunk_fts (rowid, terms)
            {_CHUNK_KEY_OF_NEW} FROM ingest_document d WHERE d.id = NEW.document_id;
        END""",
    "ingest_chunk_search_update": f"""
        AFTER UPDATE OF terms ON ingest_chunk BEGIN
            INSERT INTO ingest_chunk_fts (ingest_chunk_fts, rowid, terms)
            {_CHUNK_KEY_OF_OLD} FROM ingest_document d WHERE d.id = OLD.document_id;
            INSERT INTO ingest_chunk_fts (rowid, terms)
            {_CHUNK_KEY_OF_NEW} FROM ingest_document d WHERE d.id = NEW.document_id;
        END""",
    "ingest_chunk_search_delete": f"""
        AFTER DELETE ON ingest_chunk BEGIN
            INSERT INTO ingest_chunk_fts (ingest_chunk_fts, rowid, terms)
            {_CHUNK_KEY_OF_OLD} FROM ingest_document d WHERE d.id = OLD.document_id;
        END""",
}


def create_tables(cursor) -> None:
    for table in TABLES:
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} "
            "USING fts5(terms, content='', tokenize='ascii')"
        )


def create_triggers(cursor) -> None:
    for name, body in TRIGGERS.items():
        cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute(f"CREATE TRIGGER {name} {body}")


def fill(cursor) -> None:
    """Index every row there is (the tables empty)."""
    cursor.execute(
        "INSERT INTO ingest_document_fts (rowid, terms) SELECT search_key, terms FROM ingest_document"
    )
    cursor.execute(
        f"INSERT INTO ingest_chunk_fts (rowid, terms) SELECT {KEY.format(row='c')}, c.terms "
        "FROM ingest_chunk c JOIN ingest_document d ON d.id = c.document_id"
    )


def drop(cursor) -> None:
    for name in TRIGGERS:
        cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
