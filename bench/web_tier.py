"""The web tier's parts of ``bench.api_latency``: the server as the Procfile
runs it (the project's application with a baseline endpoint added), the
cheap endpoints' data (a small project's jobs) and the search corpus and its
growth.

Kept apart from ``api_latency`` so that each module reads top to bottom.
"""

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import common
from bench.api_client import run_phase, summary
from tests.processes import WebProcess

# Words of the corpus: every chunk is 100 of them, drawn with a skew (a few
# words in most chunks, most words in few), like prose.
VOCABULARY_SIZE = 4000
WORDS_PER_CHUNK = 100
CHUNKS_PER_DOCUMENT = 20
# Terms planted in a fixed number of chunks of the searched project: the
# growth adds none, so a search for them has the same answer before and after.
PLANTED = {"zephyrquill": 20, "marmotine": 200}
SEARCH_ROUNDS = 3  # each search timed this many times, before and after the growth
SEARCHES = {
    "rare word": "zephyrquill",
    "word on many pages": "marmotine",
    "websearch: either word": "zephyrquill or marmotine -nonesuchword",
}


# --- the server: the project's application and a baseline endpoint ------------------

PING_PATH = "/bench/ping/"


def server_app():
    """The project's ASGI application (``config.asgi``, as the Procfile serves it),
    with the baseline endpoint added to its URLs."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    from config.asgi import application

    settings.ROOT_URLCONF = __name__
    return application


@functools.cache
def _application():
    return server_app()


def __getattr__(name):
    # This module is the server's URLconf and application; both are built
    # lazily so that importing it does not need Django set up.
    if name == "urlpatterns":
        return _urlpatterns()
    if name == "application":
        return _application()
    raise AttributeError(name)


def _urlpatterns():
    from django.urls import include, path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class Ping(APIView):
        """Trivial: DRF's authentication and permission checks, then a constant."""

        def get(self, request):
            return Response({"ok": True})

    return [path(PING_PATH.strip("/") + "/", Ping.as_view()), path("", include("config.urls"))]


class BaselineWeb(WebProcess):
    """The Procfile's web command, as run.py and honcho run it, serving the
    application with the baseline endpoint."""

    app = f"{__name__}:application"


class BaselineServer(common.UvicornProcess):
    app = f"{__name__}:server_app"
    factory = True


def start_servers(bench, *, count: int) -> list[BaselineServer]:
    """``count`` single-process uvicorn servers, each on its own port.

    Not ``uvicorn --workers``: its worker processes accept on a socket made
    with protocol 0, so asyncio never sets TCP_NODELAY on their connections,
    and every answer written in two parts (head, then body) waits ~40 ms for
    the client's delayed ACK. Clients are spread over the ports instead, as a
    load balancer would spread them.
    """
    return [common.start_web(bench, BaselineServer) for _ in range(count)]


def start_baseline_checkout(bench, checkout: str):
    """The Procfile's web process of another checkout (another commit), on the
    same database and Redis: gunicorn imports the application from there."""
    folder = Path(checkout).resolve()
    if not (folder / "config" / "asgi.py").is_file():
        raise SystemExit(f"--baseline {checkout}: not a checkout of this project")

    class CheckoutWeb(BaselineWeb):
        # Started from the checkout: `python -m gunicorn` puts the folder it
        # starts in first on sys.path, before PYTHONPATH, and gunicorn's
        # --chdir comes too late to change that.
        cwd = folder

    imported = subprocess.run(
        [sys.executable, "-c", "import config.asgi as m; print(m.__file__)"],
        cwd=folder,
        env={**bench.env, "PYTHONPATH": str(folder)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(imported).is_relative_to(folder):
        raise SystemExit(f"--baseline {checkout}: its server would import {imported}")
    return common.serve_web(
        bench, CheckoutWeb, "--chdir", str(folder), label="web-baseline", PYTHONPATH=str(folder)
    )


# --- data ---------------------------------------------------------------------------------


INSERT_FINISHED_JOBS = (
    """
INSERT INTO ingest_ingestjob (
"""
    + common.JOB_COLUMNS
    + """)
SELECT gen_random_uuid(), %(project)s, 'job ' || g, 'completed', 3, %(user)s,
    now() - g * interval '1 minute', now() - g * interval '1 minute', now(), NULL,
    '', 3, 3, 0, 3000, 3000, '', '{}', 1000, 100, ''
FROM generate_series(1, %(count)s::int) AS g
"""
)


def build_small_project(*, user, count: int = 40, name: str = "latency forty"):
    """The issue's new user: one project with ``count`` finished jobs of 3 files."""
    from django.db import connection

    from ingest.models import IngestJob

    project = common.new_project(user, name)
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_FINISHED_JOBS, {"project": project.pk, "user": user.pk, "count": count}
        )
        ids = list(IngestJob.objects.filter(project=project).values_list("pk", flat=True))
        cursor.execute(
            """
            INSERT INTO ingest_ingestfile (
                job_id, position, name, size, content_type, kind, sha256, storage_path,
                status, error, chunks, members_count, details)
            SELECT j, p, 'file' || p || '.txt', 1000, 'text/plain', 'txt', repeat('0', 64),
                'jobs/bench/' || j || '/' || p, 'done', '', 3, 0, '{}'
            FROM unnest(%(ids)s::uuid[]) AS j, generate_series(0, 2) AS p
            """,
            {"ids": ids},
        )
    return project, [str(pk) for pk in ids]


# Paragraphs made once, then reused by every chunk (``chunk number % count``):
# generating a million distinct texts word by word would take the database
# minutes; a thousand distinct ones, each 100 words of a 4,000-word
# vocabulary drawn with a skew, gives the index realistic posting lists.
MAKE_PARAGRAPHS = """
CREATE TEMP TABLE IF NOT EXISTS bench_paragraph AS
SELECT n, (
    SELECT string_agg('w' || floor(power(random(), 3) * %(vocabulary)s::int)::int, ' ')
    FROM generate_series(1, %(words)s::int) AS w WHERE n >= 0
) AS text
FROM generate_series(0, 999) AS n
"""

# The corpus' words are the analyzer's tokens already (lower-case letters and
# digits, one space apart): its terms are its text, and its vector is what
# the worker would send (ingest.search.index).
INSERT_DOCUMENTS = """
INSERT INTO ingest_document (
    id, project_id, title, sha256, size, chunk_count, created_at, origin_job_name,
    origin_file_name, terms, search)
SELECT gen_random_uuid(), %(project)s, 'Report ' || g, md5(%(salt)s::text || g) || md5(g || %(salt)s::text),
    %(chunks)s::int * 700, %(chunks)s::int, now() - g * interval '1 second', '', 'report' || g || '.txt',
    'report ' || g, array_to_tsvector(ARRAY['report', g::text])
FROM generate_series(%(first)s::int, %(last)s::int) AS g
"""

INSERT_CHUNKS = """
INSERT INTO ingest_chunk (document_id, index, text, start, "end", terms, search)
SELECT d.id, i, p.text, i * 700, i * 700 + 700, p.text, array_to_tsvector(string_to_array(p.text, ' '))
FROM ingest_document AS d
CROSS JOIN generate_series(0, %(chunks)s::int - 1) AS i
JOIN bench_paragraph AS p ON p.n = abs(hashtext(d.id::text || i)) %% 1000
WHERE d.project_id = %(project)s AND d.title LIKE 'Report %%'
  AND NOT EXISTS (SELECT 1 FROM ingest_chunk AS c WHERE c.document_id = d.id)
"""

PLANT = """
UPDATE ingest_chunk SET text = text || ' ' || %(term)s::text, terms = terms || ' ' || %(term)s::text,
    search = search || array_to_tsvector(ARRAY[%(term)s::text])
WHERE id IN (
    SELECT c.id FROM ingest_chunk AS c JOIN ingest_document AS d ON d.id = c.document_id
    WHERE d.project_id = %(project)s ORDER BY md5(c.id::text) LIMIT %(count)s::int OFFSET %(offset)s)
"""


def add_chunks(cursor, *, project, chunks: int, first_document: int = 1) -> None:
    documents = chunks // CHUNKS_PER_DOCUMENT
    cursor.execute(MAKE_PARAGRAPHS, {"vocabulary": VOCABULARY_SIZE, "words": WORDS_PER_CHUNK})
    cursor.execute(
        INSERT_DOCUMENTS,
        {
            "project": project.pk,
            "salt": str(project.pk),
            "chunks": CHUNKS_PER_DOCUMENT,
            "first": first_document,
            "last": first_document + documents - 1,
        },
    )
    cursor.execute(INSERT_CHUNKS, {"project": project.pk, "chunks": CHUNKS_PER_DOCUMENT})


def build_search_project(*, user, chunks: int = 10_000):
    """A project of ``chunks`` chunks, with the planted terms in fixed chunks."""
    from django.db import connection

    project = common.new_project(user, "latency search")
    with connection.cursor() as cursor:
        add_chunks(cursor, project=project, chunks=chunks)
        offset = 0
        for term, count in PLANTED.items():
            cursor.execute(
                PLANT, {"term": term, "project": project.pk, "count": count, "offset": offset}
            )
            offset += count
        cursor.execute("VACUUM ANALYZE ingest_chunk")
        cursor.execute("VACUUM ANALYZE ingest_document")
    return project


def grow_search_project(*, project, to_chunks: int, have: int) -> float:
    """Add chunks to the searched project until the database holds ``to_chunks``."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        add_chunks(
            cursor,
            project=project,
            chunks=to_chunks - have,
            first_document=have // CHUNKS_PER_DOCUMENT + 1,
        )
        cursor.execute("VACUUM ANALYZE ingest_chunk")
        cursor.execute("VACUUM ANALYZE ingest_document")
        # The growth's pages written out now: left to the background
        # checkpointer, they were written during the measurement after it,
        # and /healthz's own p99 there grew 4.6 times.
        cursor.execute("CHECKPOINT")
    return time.perf_counter() - started


def chunk_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ingest_chunk")
        return cursor.fetchone()[0]


def search_path(project, q: str) -> str:
    from urllib.parse import urlencode

    return f"/api/projects/{project.pk}/documents/?{urlencode({'q': q})}"


def search_query_ms(project, rounds: int = 200) -> dict:
    """Each search's queries as the API runs them (the count and the first
    page, with the passages), in this process, one search after the other:
    the database's share, free of HTTP and of 16 clients' queueing."""
    from ingest import selectors

    def search(q):
        pages = selectors.document_list(project=project, q=q)
        pages.count()
        pages[0:25]

    calls = {name: functools.partial(search, q) for name, q in SEARCHES.items()}
    return common.in_process_ms(calls, rounds)


def measure_search(args, *, project, urls: list[str], token: str) -> dict:
    """Each search's p99 with the database at ``--search-chunks`` chunks, then
    again once the searched project grew to ``--search-scale`` (the growth
    holds none of the searched terms: the answers stay the same)."""
    from ingest import selectors

    count = args.clients * args.search_requests

    def timed() -> dict:
        """Each query's figures from the middle one of SEARCH_ROUNDS rounds
        (by p99): with one round each, a disturbance of this shared machine
        (/healthz's own p99 grew 3.5 times in one round) decided a ratio, and
        the lowest of three was as often one lucky round. Every round's p99
        is kept."""
        rounds = {}
        for _ in range(SEARCH_ROUNDS):
            for name, q in [("healthz", None), *SEARCHES.items()]:
                path = "/healthz" if q is None else search_path(project, q)
                requests = [(name, "GET", path, None)] * count
                samples, seconds = run_phase(
                    urls=urls, token=token, requests=requests, clients=args.clients
                )
                rounds.setdefault(name, []).append(summary(samples[name], {200}, seconds))
        return {
            name: {
                **sorted(figures, key=lambda f: f["p99_ms"])[len(figures) // 2],
                "p99_ms_rounds": [f["p99_ms"] for f in figures],
            }
            for name, figures in rounds.items()
        }

    def hits() -> dict:
        return {
            name: selectors.document_list(project=project, q=q).count()
            for name, q in SEARCHES.items()
        }

    chunks_before, hits_before, before = chunk_count(), hits(), timed()
    queries_before = search_query_ms(project)
    if args.search_scale <= chunks_before:
        return {"chunks_before": chunks_before, "hits_before": hits_before, "before": before}
    grow_seconds = grow_search_project(
        project=project, to_chunks=args.search_scale, have=chunks_before
    )
    chunks_after, hits_after, after = chunk_count(), hits(), timed()
    queries_after = search_query_ms(project)
    plan = selectors.document_list(project=project, q=SEARCHES["rare word"]).explain()
    return {
        "chunks_before": chunks_before,
        "chunks_after": chunks_after,
        "hits_before": hits_before,
        "hits_after": hits_after,
        "before": before,
        "after": after,
        "ratio_p99": {
            name: round(after[name]["p99_ms"] / before[name]["p99_ms"], 3) for name in before
        },
        "queries_ms": {"before": queries_before, "after": queries_after},
        "grow_seconds": round(grow_seconds, 1),
        "plan_after_growth": plan,
    }
