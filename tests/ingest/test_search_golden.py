"""The golden search test: a real corpus, ingested by the pipeline, and what
each query finds, in order, fixed in ``tests/corpus/search/golden.json``.

The same file holds on PostgreSQL and on SQLite: both databases give the
same hits in the same order (rank ties go to the newer document, and the
files are ingested in a fixed order). A query whose answer changes fails
with both answers side by side; after a deliberate change to the analyzer
or the rank, write the file again with INGEST_WRITE_GOLDEN=1 and review its
diff.
"""

import json
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from ingest import selectors
from ingest.models import IngestJob, Project
from tests.factories import ProjectFactory

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "search"
GOLDEN = CORPUS / "golden.json"
FILES = [
    "war-and-peace-book-one.txt",
    "don-quijote-capitulos-1-2.txt",
    "dao-de-jing.txt",
    "adduser-copyright.txt",
    "curl-copyright.txt",
    "git-copyright.txt",
]
QUERIES = [
    # plain words
    "prince",
    "Prince",
    "license",
    "copyright",
    "hidalgo",
    "caballero",
    "rocinante",
    "the",
    "war",
    "gutenberg",
    "nonesuchword",
    # accents, either way
    "Pávlovna",
    "pavlovna",
    "PAVLOVNA",
    "scherer",
    "condición",
    "condicion",
    "senor",
    "Vasíli Kurágin",
    # Chinese
    "道",
    "道可道",
    "天下",
    "聖人",
    "無為",
    "玄之又玄",
    # hyphenated words
    "well-known",
    "well known",
    "re-use",
    "copyright-format",
    # e-mail addresses
    "maor@debian.org",
    "daniel@haxx.se",
    "haxx.se",
    "debian.org",
    # URLs
    "https://curl.se/",
    "www.gutenberg.org",
    "salsa.debian.org/debian/adduser",
    # numbers and versions
    "1805",
    "2600",
    "1.0",
    "GPL-2+",
    "LGPL-2.1+",
    # phrases
    '"Anna Pávlovna"',
    '"General Public License"',
    '"en un lugar de la Mancha"',
    '"public domain"',
    # must not
    "license -gnu",
    "prince -vasili",
    'copyright -"debian.org"',
    "-the",
    # or
    "hidalgo or curl",
    "rocinante or 聖人",
    '"Anna Pávlovna" or caballero',
    "prince or",
]


@pytest.fixture(scope="module")
def corpus(django_db_setup, django_db_blocker):
    """The corpus ingested once for the module, by the pipeline, in order."""
    from tests.ingest.test_pipeline import add_file, run, running_job

    with django_db_blocker.unblock():
        project = ProjectFactory(name="golden corpus")
        job = running_job(project=project)
        for name in FILES:
            add_file(job, name, (CORPUS / name).read_bytes())
        run(job)
        yield Project.objects.get(pk=project.pk)
        IngestJob.all_objects.filter(project=project).purge()
        project.delete()
        project.created_by.delete()
        # An open connection would keep the test database from being dropped.
        connections[settings.JOB_STATE_DB].close()


def found(project, q: str) -> list[str]:
    return [d.title for d in selectors.document_list(project=project, q=q, with_job=True)]


@pytest.fixture(scope="module")
def golden(corpus):
    if os.environ.get("INGEST_WRITE_GOLDEN"):
        answers = {q: found(corpus, q) for q in QUERIES}
        GOLDEN.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n")
    return json.loads(GOLDEN.read_text())


@pytest.mark.django_db
def test_the_golden_file_holds_every_query(golden):
    assert list(golden) == QUERIES


@pytest.mark.django_db
@pytest.mark.parametrize("q", QUERIES)
def test_each_query_finds_its_golden_hits_in_order(corpus, golden, q):
    assert found(corpus, q) == golden[q], connection.vendor


@pytest.mark.django_db
def test_the_api_pages_give_the_dashboards_hits(corpus, golden):
    for q in QUERIES:
        pages = selectors.document_list(project=corpus, q=q)
        assert [d.title for d in pages[0:25]] == golden[q]
        assert pages.count() == len(golden[q])
