"""Search a project's documents by their titles and their chunks' text.

On PostgreSQL: full-text search over the ``search`` columns (GIN-indexed),
with web-search syntax (``"a phrase"``, ``or``, ``-word``), ranked, and a
highlighted snippet per hit from the document's best chunk. The index is
searched first and only then joined to the project, so the cost follows the
hits, not the number of chunks in the database. Chunks are indexed shortly
after they are written (``ingest.search_index``); until then their words are
read from their text, found through the partial index of the unindexed
chunks, so the answers do not depend on how far the indexer has got.

On SQLite (the zero-setup default) there is no text search: the same plain
words match as whole words in any case, newest first, with the same kind of
snippet made here. Web-search operators are read as plain words there.
"""

import html
import re

from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorField,
)
from django.db import connection
from django.db.models import (
    BooleanField,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils.safestring import SafeString, mark_safe

from ingest.models import SEARCH_CONFIG, Chunk, Document

MAX_QUERY_CHARS = 200
# Markers the database puts around matched words; escaped text never holds
# them, so the snippet can be escaped first and marked up after.
START, STOP = "\ue000", "\ue001"
SNIPPET_WORDS = 30


def clean(q: str) -> str:
    """The query as searched: PostgreSQL text cannot hold NUL (it answered 500
    for ``?q=%00``), so control characters are spaces; whitespace collapsed."""
    q = "".join(" " if ord(c) < 32 else c for c in q)
    return " ".join(q.split())[:MAX_QUERY_CHARS]


def full_text() -> bool:
    return connection.vendor == "postgresql"


def _query(q: str) -> SearchQuery:
    return SearchQuery(q, config=SEARCH_CONFIG, search_type="websearch")


def _chunk_words() -> Coalesce:
    """A chunk's words: its stored vector, or, for a chunk not indexed yet,
    the same vector computed now (``COALESCE`` computes it only then)."""
    return Coalesce(
        F("search"), SearchVector("text", config=SEARCH_CONFIG), output_field=SearchVectorField()
    )


def words(q: str) -> list[str]:
    return re.findall(r"\w+", q.lower())


def _word_patterns(q: str) -> list[str]:
    return [rf"(?<!\w){re.escape(word)}(?!\w)" for word in words(q)]


def matching(documents: QuerySet[Document], q: str) -> QuerySet[Document]:
    """``documents`` whose title or one chunk holds every word of ``q``, best first."""
    if not full_text():
        return _matching_words(documents, q)
    query = _query(q)
    # The indexes give the hits' ids (the GIN indexes, and the partial index
    # of the chunks not indexed yet); the project's filter and the ordering
    # then touch only those documents.
    tsquery = "websearch_to_tsquery(%s::regconfig, %s)"
    ids = RawSQL(
        f"SELECT id FROM {Document._meta.db_table} WHERE search @@ {tsquery} "
        f"UNION SELECT document_id FROM {Chunk._meta.db_table} WHERE search @@ {tsquery} "
        f"UNION SELECT document_id FROM {Chunk._meta.db_table} WHERE search IS NULL "
        f"AND to_tsvector(%s::regconfig, text) @@ {tsquery}",
        [SEARCH_CONFIG, q, SEARCH_CONFIG, q, SEARCH_CONFIG, SEARCH_CONFIG, q],
    )
    best_chunk = (
        Chunk.objects.filter(document=OuterRef("pk"))
        .alias(words=_chunk_words())
        .filter(words=query)
        .annotate(rank=SearchRank(F("words"), query))
        .order_by("-rank")
        .values("rank")[:1]
    )
    rank = Coalesce(Subquery(best_chunk), Value(0.0)) + Coalesce(
        SearchRank(F("search"), query), Value(0.0)
    )
    hits = documents.filter(_AnyOf(F("pk"), ids))
    return hits.annotate(rank=rank).order_by("-rank", "-created_at", "id")


class _AnyOf(Func):
    """``<expression> = ANY(ARRAY(<subquery>))``: the subquery runs once and
    the documents are then read by primary key. With ``IN (<subquery>)`` the
    planner may hash-join the hits with every document of the project, whose
    cost grows with the project (measured: a 50,000-row scan for 176 hits)."""

    template = "%(expressions)s"
    arg_joiner = " = ANY(ARRAY"
    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = super().as_sql(compiler, connection, **extra_context)
        return f"{sql})", params


def _matching_words(documents: QuerySet[Document], q: str) -> QuerySet[Document]:
    patterns = _word_patterns(q)
    if not patterns:
        return documents.none()
    title, chunks = Q(), Chunk.objects.all()
    for pattern in patterns:  # every word, all in the title or all in one chunk
        title &= Q(title__iregex=pattern)
        chunks = chunks.filter(text__iregex=pattern)
    hits = documents.filter(title | Q(pk__in=chunks.values("document_id")))
    return hits.annotate(rank=Value(None, output_field=FloatField()))


def attach_snippets(documents: list[Document], q: str) -> list[Document]:
    """Give each document of a page its ``snippet``: escaped HTML, the matched
    words in ``<mark>``, from its best chunk, or else its title. One query."""
    by_id = {}
    if documents and q:
        by_id = _chunk_snippets([d.pk for d in documents], q)
    for document in documents:
        snippet = by_id.get(document.pk)
        document.snippet = snippet if snippet else (highlight(document.title, q) if q else None)
    return documents


def _chunk_snippets(ids: list, q: str) -> dict:
    if full_text():
        query = _query(q)
        best = (
            Chunk.objects.filter(document_id__in=ids)
            .alias(words=_chunk_words())
            .filter(words=query)
            .annotate(rank=SearchRank(F("words"), query))
            .order_by("document_id", "-rank", "index")
            .distinct("document_id")
            .values("pk")
        )
        headline = SearchHeadline(
            "text",
            query,
            config=SEARCH_CONFIG,
            start_sel=START,
            stop_sel=STOP,
            max_words=SNIPPET_WORDS,
            min_words=SNIPPET_WORDS // 2,
        )
        rows = Chunk.objects.filter(pk__in=best).annotate(snippet=headline)
        return {d: _marked(text) for d, text in rows.values_list("document_id", "snippet")}
    patterns = _word_patterns(q)
    if not patterns:
        return {}
    chunks = Chunk.objects.filter(document_id__in=ids)
    for pattern in patterns:
        chunks = chunks.filter(text__iregex=pattern)
    found = {}
    for document_id, text in chunks.order_by("document_id", "index").values_list(
        "document_id", "text"
    ):
        found.setdefault(document_id, highlight(text, q))
    return found


def _marked(text: str) -> SafeString:
    escaped = html.escape(text.replace("\n", " "), quote=False)
    return mark_safe(escaped.replace(START, "<mark>").replace(STOP, "</mark>"))


def highlight(text: str, q: str) -> SafeString:
    """About SNIPPET_WORDS words of ``text`` around its first match, the
    query's words marked: the snippet where the database makes none."""
    wanted = set(words(q))
    tokens = re.split(r"(\w+)", text)
    first = next((i for i, t in enumerate(tokens) if t.lower() in wanted), 0)
    start = max(0, first - SNIPPET_WORDS)  # tokens alternate words and gaps
    window = tokens[start : start + 2 * SNIPPET_WORDS]
    marked = "".join(f"{START}{t}{STOP}" if t.lower() in wanted else t for t in window).strip()
    prefix = "… " if start else ""
    suffix = " …" if start + 2 * SNIPPET_WORDS < len(tokens) else ""
    return _marked(prefix + " ".join(marked.split()) + suffix)
