"""One side of ``bench.search_latency``: a checkout's search, timed in process
through the API's and the dashboard's views, on a corpus grown to a size.

Run by path, with the checkout first on ``sys.path`` (as ``ingest_side``),
so each side's own code and migrations are measured; it imports nothing
from ``bench``. The corpus is written with SQL, the same rows on both
sides; a checkout whose chunks have a ``terms`` column (the analyzer's)
gets them filled, since the corpus' words are the analyzer's tokens already
(lower-case letters and digits, one space apart).

Prints one JSON object: each query's p50 and p99 (ms) through each view,
its hit count, and the chunk count.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

VOCABULARY_SIZE = 4000
WORDS_PER_CHUNK = 100
PARAGRAPHS = 1000
# Terms planted in a fixed number of chunks of the first document(s): growth
# adds none, so their searches have the same answers at every size.
PLANTED = {"zephyrquill": 20, "quillon marmotine": 200}
QUERIES = {
    "rare word": "zephyrquill",
    "word on many pages": "marmotine",
    "websearch: either word": "zephyrquill or marmotine -nonesuchword",
    "phrase": '"quillon marmotine"',
    "common word (hits grow)": "w3",
    "phrase of common words (hits grow)": '"w0 w1"',
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--chunks", type=int, required=True, help="grow the corpus to this")
    parser.add_argument("--chunks-per-document", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--skip", default="", help="queries not timed, comma-separated")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.root).resolve()))
    os.chdir(args.root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    project, user = corpus_project()
    grown = grow(project, to=args.chunks, per_document=args.chunks_per_document)
    skip = set(filter(None, args.skip.split(",")))
    queries = {name: q for name, q in QUERIES.items() if name not in skip}
    print(
        json.dumps(
            {
                "chunks": chunk_count(),
                "grow_seconds": grown,
                **timed(project, user, queries, args.rounds),
            }
        )
    )
    return 0


def corpus_project():
    from django.contrib.auth import get_user_model

    from ingest.models import Project
    from ingest.services import project_create

    user, _ = get_user_model().objects.get_or_create(username="bench-search")
    project = Project.objects.filter(name="search corpus").first()
    return project or project_create(user=user, name="search corpus"), user


def chunk_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ingest_chunk")
        return cursor.fetchone()[0]


def _paragraphs() -> list[str]:
    # Each chunk is one of these: 100 words of a 4,000-word vocabulary drawn
    # with a skew (a few words in most chunks, most words in few), as prose.
    rng = random.Random(28)
    return [
        " ".join(f"w{int(rng.random() ** 3 * VOCABULARY_SIZE)}" for _ in range(WORDS_PER_CHUNK))
        for _ in range(PARAGRAPHS)
    ]


def grow(project, *, to: int, per_document: int) -> float:
    from django.db import connection, transaction

    have = chunk_count()
    if have >= to:
        return 0.0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        columns = {
            c.name for c in connection.introspection.get_table_description(cursor, "ingest_chunk")
        }
    analyzed = "terms" in columns
    paragraphs = _paragraphs()
    first = have == 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS bench_paragraph (n integer, text text)")
        cursor.execute("DELETE FROM bench_paragraph")
        cursor.executemany(
            "INSERT INTO bench_paragraph VALUES (%s, %s)", list(enumerate(paragraphs))
        )
        number = have // per_document
        while have < to:
            count = min(per_document, to - have)
            _add_document(cursor, project, number, count, analyzed=analyzed)
            have, number = have + count, number + 1
        if first:
            _plant(cursor, analyzed=analyzed)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        if connection.vendor == "postgresql":
            cursor.execute("CHECKPOINT")
    return round(time.perf_counter() - started, 1)


def _add_document(cursor, project, number: int, count: int, *, analyzed: bool) -> None:
    from django.db import connection
    from django.utils import timezone

    from ingest.models import Document

    fields = {"terms": f"report {number}"} if analyzed else {}
    document = Document.objects.create(
        project=project,
        title=f"Report {number}",
        sha256=uuid.uuid4().hex * 2,
        size=count * 600,
        chunk_count=count,
        created_at=timezone.now(),
        **fields,
    )
    if connection.vendor == "postgresql":
        if analyzed:
            cursor.execute(
                "UPDATE ingest_document SET search = to_tsvector('simple', terms) WHERE id = %s",
                [document.pk],
            )
        rows = "generate_series(0, %s - 1) AS i"
        vector = ", terms, search" if analyzed else ""
        values = ", p.text, array_to_tsvector(string_to_array(p.text, ' '))" if analyzed else ""
        key = document.pk
    else:
        rows = "(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < %s) SELECT i FROM s) AS g"
        vector = ", terms" if analyzed else ""
        values = ", p.text" if analyzed else ""
        key = document.pk.hex
    cursor.execute(
        f'INSERT INTO ingest_chunk (document_id, "index", text, start, "end"{vector}) '
        f"SELECT %s, i, p.text, i * 600, i * 600 + 600{values} FROM {rows} "
        f"JOIN bench_paragraph p ON p.n = (i * 7919 + {number}) %% {PARAGRAPHS}",
        [key, count],
    )


def _plant(cursor, *, analyzed: bool) -> None:
    from django.db import connection

    offset = 0
    for term, count in PLANTED.items():
        # Every seventh chunk from the start: in the first document(s) only.
        where = f'"index" %% 7 = 0 AND "index" / 7 >= {offset} AND "index" / 7 < {offset + count} AND document_id = (SELECT id FROM ingest_document WHERE title = %s)'
        sets = "text = text || ' ' || %s"
        params = [term]
        if analyzed:
            sets += ", terms = terms || ' ' || %s"
            params.append(term)
            if connection.vendor == "postgresql":
                sets += ", search = array_to_tsvector(string_to_array(terms || ' ' || %s, ' '))"
                params.append(term)
        cursor.execute(f"UPDATE ingest_chunk SET {sets} WHERE {where}", [*params, "Report 0"])
        offset += count


def summary(times: list[float]) -> dict:
    if not times:
        return {}
    cuts = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
    return {"p50_ms": round(cuts[49], 2), "p99_ms": round(cuts[98], 2)}


def timed(project, user, queries: dict, rounds: int) -> dict:
    from django.test import Client
    from django.urls import reverse
    from rest_framework.authtoken.models import Token

    from ingest import selectors

    token, _ = Token.objects.get_or_create(user=user)
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    dashboard = Client()
    dashboard.force_login(user)
    paths = {
        "api": (api, f"/api/projects/{project.pk}/documents/"),
        "dashboard": (
            dashboard,
            reverse("ingest:document-list", kwargs={"project_id": project.pk}),
        ),
    }
    figures = {}
    for name, q in queries.items() if rounds else ():
        row = {"q": q, "hits": selectors.document_list(project=project, q=q).count()}
        for path, (client, url) in paths.items():
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                response = client.get(url, {"q": q})
                times.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path} {q!r}: {response.status_code}")
            row[path] = {"samples_ms": [round(t, 3) for t in times], **summary(times)}
        figures[name] = row
    return {"queries": figures}


if __name__ == "__main__":
    sys.exit(main())
