"""Search a project's documents by their titles and their chunks' text.

One analyzer (``analyzer``) decides what a word is, for what is indexed and
for what is asked, on both databases; ``query`` reads a search box's query
(words, ``"a phrase"``, ``-word``, ``or``); ``hits`` finds and ranks the
documents from PostgreSQL's GIN index or SQLite's FTS5 tables; ``snippets``
makes each hit's passage. The index is written by the worker with the
chunks it belongs to (``ingest.pipeline.store``), so a completed job is
searchable, and it goes when its rows go.
"""

from ingest.models import Document
from ingest.search.hits import Hits
from ingest.search.query import Query, parse
from ingest.search.snippets import snippet

MAX_QUERY_CHARS = 200

__all__ = ["Hits", "Query", "attach_snippets", "clean", "hits", "parse", "snippet"]


def clean(q: str) -> str:
    """The query as searched: control characters are spaces (PostgreSQL text
    cannot hold NUL), white space collapsed, at most MAX_QUERY_CHARS."""
    q = "".join(" " if ord(c) < 32 else c for c in q)
    return " ".join(q.split())[:MAX_QUERY_CHARS]


def hits(*, project_id, q: str, fields: tuple[str, ...], related=()) -> Hits:
    """The project's documents that match ``q``, best first (see ``hits``)."""
    return Hits(project_id=project_id, query=parse(clean(q)), fields=fields, related=related)


def attach_snippets(documents: list[Document], q: str) -> list[Document]:
    """Give each document of a page of hits its ``snippet``: escaped HTML,
    the matched words in ``<mark>``, from its first matching chunk, or else
    from its title."""
    words = parse(clean(q)).words() if q else frozenset()
    for document in documents:
        passage = getattr(document, "passage", None)
        if not q:
            document.snippet = None
        elif passage:
            document.snippet = snippet(passage, words)
        else:
            document.snippet = snippet(document.title, words, whole=True)
    return documents
