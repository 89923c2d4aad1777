"""A search's documents, best first, from each database's index.

A document is a hit when its title or one of its chunks matches the query
(``ingest.search.query``). Its rank is the same number on both databases:

    rank = matching chunks / sqrt(the document's chunks) + (1 if the title matches)

so a document that says more about the words ranks higher, a long one not
merely for being long, and a title hit comes first among equals. Ties go to
the newest document, then by id. The passage a snippet is made from is the
document's first matching chunk, in reading order.

Both computations read only the index and the hits: the chunks' hits are
grouped by document before any document is read, and the documents are
then read by key, so a search costs what its hits cost, not what the
database holds (``bench.search_latency``):

- PostgreSQL: the GIN index on ``search`` gives the candidate chunks and
  titles; a query with a phrase checks those candidates' ``terms``;
- SQLite: FTS5 gives the chunks' keys (``search_key`` << 32 | index), so the
  grouping by document needs no read of the chunks at all.
"""

import json
import uuid

from django.db import connection
from django.db.models import prefetch_related_objects

from ingest.models import Chunk, Document
from ingest.search.query import Query

CHUNK_KEY_BITS = 32  # SQLite: a chunk's FTS5 rowid is its document's search_key << 32 | index

_D, _C = Document._meta.db_table, Chunk._meta.db_table

# PostgreSQL: whether a candidate (alias {a}) passes the query's phrase
# checks (see Query.phrase_checks): none; or, for one group, each wanted
# pattern and no unwanted one in its terms; or, for several, one group whose
# tsquery it matches with its wanted phrases and none of its unwanted ones.
# The one-group case is two LIKEs a candidate, cheaper than a subquery
# per candidate for a phrase of common words (bench.search_latency).
_PHRASES = """(%(plain)s
    OR (%(groups)s::text[] IS NULL
        AND ' ' || {a}.terms || ' ' LIKE ALL (%(wanted)s::text[])
        AND NOT ' ' || {a}.terms || ' ' LIKE ANY (%(unwanted)s::text[]))
    OR EXISTS (
        SELECT 1 FROM unnest(%(groups)s::text[]) AS g(spec)
        WHERE {a}.search @@ split_part(g.spec, E'\\x1e', 1)::tsquery
        AND NOT EXISTS (
            SELECT 1 FROM unnest((string_to_array(g.spec, E'\\x1e'))[2:]) AS p(phrase)
            WHERE (strpos(' ' || {a}.terms || ' ', ' ' || substr(p.phrase, 2) || ' ') > 0)
                <> (left(p.phrase, 1) = '+'))))"""

_POSTGRESQL_HITS = f"""
WITH chunk_hits AS MATERIALIZED (
    SELECT c.document_id AS id, count(*) AS hits, min(c."index") AS first
    FROM {_C} c
    WHERE c.search @@ %(tsquery)s::tsquery AND {_PHRASES.format(a="c")}
    GROUP BY c.document_id
), title_hits AS MATERIALIZED (
    SELECT d.id FROM {_D} d
    WHERE d.search @@ %(tsquery)s::tsquery AND {_PHRASES.format(a="d")}
)"""
# The documents are read by key: ``= ANY(ARRAY(...))`` runs the hits once,
# where ``IN`` let the planner join them with every document of the project.
_POSTGRESQL_WHERE = (
    "d.id = ANY(ARRAY(SELECT id FROM chunk_hits UNION SELECT id FROM title_hits))"
    " AND d.project_id = %(project)s"
)
_POSTGRESQL_RANK = (
    "coalesce(h.hits, 0) / sqrt(greatest(d.chunk_count, 1)::float8) + (t.id IS NOT NULL)::int"
)

_SQLITE_HITS = f"""
WITH chunk_hits AS (
    SELECT rowid >> {CHUNK_KEY_BITS} AS key, count(*) AS hits,
        min(rowid & {(1 << CHUNK_KEY_BITS) - 1}) AS first
    FROM {_C}_fts WHERE {_C}_fts MATCH %(match)s GROUP BY rowid >> {CHUNK_KEY_BITS}
), title_hits AS (
    SELECT rowid AS key FROM {_D}_fts WHERE {_D}_fts MATCH %(match)s
)"""
_SQLITE_WHERE = (
    "d.search_key IN (SELECT key FROM chunk_hits UNION SELECT key FROM title_hits)"
    " AND d.project_id = %(project)s"
)
_SQLITE_RANK = "coalesce(h.hits, 0) / sqrt(max(d.chunk_count, 1)) + (t.key IS NOT NULL)"


class Hits:
    """What a paginator pages through: ``count()``, and each page's
    documents with their ``rank`` and ``passage`` (the first matching
    chunk's text, or None for a title hit). ``fields`` are the document's
    fields read, the others deferred; ``related`` are fetched for the page
    (in one query each).

    Two queries: the hits, ranked (ids, ranks and first matching chunks of
    every hit: what the count counts), then a page's documents by id with
    their passages. The index is read once, where a count and a page each
    read it."""

    ordered = True  # the hits are ranked; Paginator warns otherwise

    def __init__(self, *, project_id, query: Query, fields: tuple[str, ...], related=()):
        self.query = query
        self.fields = ("id", *(name for name in fields if name != "id"))
        self.related = related
        project_id = Document._meta.get_field("project").get_db_prep_value(project_id, connection)
        if connection.vendor == "postgresql":
            self.params = {"project": project_id, "tsquery": query.tsquery()}
            self.params.update(query.phrase_checks())
        else:
            self.params = {"project": project_id, "match": query.match()}
        self._ranked = None

    def ranked(self) -> list[tuple]:
        """(id, rank, index of the first matching chunk or None), best first."""
        if self._ranked is None:
            self._ranked = []
            if self.query:
                with connection.cursor() as cursor:
                    cursor.execute(_ranked_sql(), self.params)
                    self._ranked = cursor.fetchall()
        return self._ranked

    def count(self) -> int:
        return len(self.ranked())

    def __len__(self) -> int:
        return self.count()

    def __iter__(self):
        return iter(self[0:None])

    def explain(self) -> str:
        """The database's plan for the hits, as ``QuerySet.explain``."""
        prefix = "EXPLAIN" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
        with connection.cursor() as cursor:
            cursor.execute(f"{prefix} {_ranked_sql()}", self.params)
            return "\n".join(" ".join(map(str, row)) for row in cursor.fetchall())

    def __getitem__(self, index: slice) -> list[Document]:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("a search's hits are read a page (a slice) at a time")
        hits = self.ranked()[index]
        if not hits:
            return []
        by_id = {document.pk: document for document in self._documents(hits)}
        documents = []
        for pk, rank, _ in hits:
            # PostgreSQL gives a UUID; SQLite the hex Django stores.
            document = by_id[pk if isinstance(pk, uuid.UUID) else uuid.UUID(pk)]
            document.rank = rank
            documents.append(document)
        prefetch_related_objects(documents, *self.related)
        return documents

    def _documents(self, hits) -> list[Document]:
        columns = _columns(self.fields)
        passage = f'(SELECT c.text FROM {_C} c WHERE c.document_id = d.id AND c."index" = h.first)'
        if connection.vendor == "postgresql":
            sql = (
                f"SELECT {columns}, {passage} AS passage "
                "FROM unnest(%s::uuid[], %s::int[]) AS h(id, first) JOIN "
                f"{_D} d ON d.id = h.id"
            )
            params = [[pk for pk, _, _ in hits], [first for _, _, first in hits]]
        else:
            sql = (
                f"SELECT {columns}, {passage} AS passage FROM "
                "(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS first "
                f"FROM json_each(%s)) AS h JOIN {_D} d ON d.id = h.id"
            )
            params = [json.dumps([[pk, first] for pk, _, first in hits])]
        return list(Document.objects.raw(sql, params))


def _columns(fields) -> str:
    return ", ".join(f'd."{Document._meta.get_field(name).column}"' for name in fields)


def _ranked_sql() -> str:
    postgresql = connection.vendor == "postgresql"
    hits, where, rank, joined, key = (
        (_POSTGRESQL_HITS, _POSTGRESQL_WHERE, _POSTGRESQL_RANK, "d.id", "id")
        if postgresql
        else (_SQLITE_HITS, _SQLITE_WHERE, _SQLITE_RANK, "d.search_key", "key")
    )
    return f"""{hits}
SELECT d.id, ({rank}) AS rank, h.first
FROM {_D} d
LEFT JOIN chunk_hits h ON h.{key} = {joined}
LEFT JOIN title_hits t ON t.{key} = {joined}
WHERE {where}
ORDER BY rank DESC, d.created_at DESC, d.id"""
