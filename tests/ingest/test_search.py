"""Document search: whole words in any case on both databases, full-text
syntax, rank and highlighted snippets on PostgreSQL, and hostile queries."""

from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from config import middleware
from ingest import selectors
from ingest.models import Chunk
from ingest.search import index
from tests.conftest import postgres_only
from tests.factories import DocumentFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def document(project, title, *texts):
    doc = DocumentFactory(project=project, title=title, chunk_count=len(texts))
    Chunk.objects.bulk_create(
        index.chunk(document=doc, index=i, text=text, start=i * 100, end=i * 100 + len(text))
        for i, text in enumerate(texts)
    )
    return doc


def search(api, project, q):
    response = api.get(f"/api/projects/{project.pk}/documents/", {"q": q})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def titles(results) -> set[str]:
    return {r["title"] for r in results}


@pytest.fixture
def library(project):
    document(project, "Harbour notes", "The harbour lights at night.", "Ships come in.")
    document(project, "Plural", "Two harbours and a Harbourmaster.")
    document(project, "Split", "the harbour", "lights elsewhere")
    document(project, "Ledger of ships", "Numbers and dates.")
    document(ProjectFactory(), "Other project", "the harbour lights")
    return project


# --- the same answers on SQLite and PostgreSQL for plain words -------------------------


@pytest.mark.parametrize(
    "q, expected",
    [
        ("harbour", {"Harbour notes", "Split"}),  # whole words only, not harbours
        ("HARBOUR", {"Harbour notes", "Split"}),  # any case
        ("harbourmaster", {"Plural"}),
        ("harbour lights", {"Harbour notes"}),  # every word in one chunk (or the title)
        ("ledger", {"Ledger of ships"}),  # titles too
        ("ships", {"Harbour notes", "Ledger of ships"}),
        ("  harbour \t ", {"Harbour notes", "Split"}),
        ("nowhere", set()),
    ],
)
def test_plain_words_match_whole_words_in_any_case(api, library, q, expected):
    assert titles(search(api, library, q)) == expected


def test_the_api_gives_an_escaped_snippet_with_the_words_marked(api, project):
    document(project, "Markup", "Intro.", "<b>Bold</b> & the Harbour <script>x</script> again")

    [hit] = search(api, project, "harbour")

    assert hit["snippet"] == (
        "&lt;b&gt;Bold&lt;/b&gt; &amp; the <mark>Harbour</mark> &lt;script&gt;x&lt;/script&gt; again"
    )
    assert "Intro" not in hit["snippet"]  # the matching chunk, not the first one


def test_no_character_of_a_document_can_open_or_close_a_mark(api, project):
    # Private-use characters once served as the database's markers: the text
    # held them, and they became tags after escaping.
    forged = "\ue000unmatched\ue001 <mark>fake</mark> \ue001 harbour \ue000"
    document(project, "Forged", forged)

    [hit] = search(api, project, "harbour")

    assert hit["snippet"].count("<mark>") == hit["snippet"].count("</mark>") == 1
    assert hit["snippet"] == (
        "\ue000unmatched\ue001 &lt;mark&gt;fake&lt;/mark&gt; \ue001 <mark>harbour</mark> \ue000"
    )


def test_accented_and_chinese_words_are_marked_as_they_are_written(api, project):
    document(project, "Names", "Anna Pávlovna Schérer said so.")
    document(project, "Dao", "以其不爭\uff0c故天下莫能與之爭。")

    [names] = search(api, project, "pavlovna scherer")
    [dao] = search(api, project, "天下")

    assert names["snippet"] == "Anna <mark>Pávlovna</mark> <mark>Schérer</mark> said so."
    assert dao["snippet"] == "以其不爭\uff0c故<mark>天下</mark>莫能與之爭。"


def test_a_long_passage_is_cut_around_its_first_match(api, project):
    words = [f"word{n}" for n in range(200)]
    words[120] = "Harbour"
    document(project, "Long", " ".join(words))

    [hit] = search(api, project, "harbour")

    snippet = hit["snippet"]
    assert snippet.startswith("… ") and snippet.endswith(" …")
    assert "<mark>Harbour</mark>" in snippet
    assert len(snippet) < 300
    assert snippet.index("<mark>") < len(snippet) // 2


def test_a_title_only_hit_gets_its_title_as_snippet(api, library):
    [hit] = search(api, library, "ledger")
    assert hit["snippet"] == "<mark>Ledger</mark> of ships"


def test_without_a_search_the_list_is_newest_first_without_snippets(api, library):
    response = api.get(f"/api/projects/{library.pk}/documents/")
    results = response.json()["results"]
    assert [r["title"] for r in results] == ["Ledger of ships", "Split", "Plural", "Harbour notes"]
    assert {r["snippet"] for r in results} == {None}
    assert {r["rank"] for r in results} == {None}


@pytest.mark.parametrize("q", ["\x00", "harbour\x00", "a\x00b", "\x00\x01\x1f"])
def test_a_nul_in_the_query_is_refused_with_a_sentence(api, library, q):
    # PostgreSQL text cannot hold NUL: this answered 500 (DataError). No
    # parameter takes one, so the address is refused before the search.
    response = api.get(f"/api/projects/{library.pk}/documents/", {"q": q})
    assert response.status_code == 400
    assert response.json() == {"detail": middleware.DETAIL, "code": "invalid"}


def test_other_control_characters_in_the_query_are_not_an_error(api, library):
    assert titles(search(api, library, "harbour\x01\x1f")) == {"Harbour notes", "Split"}
    # Nothing left of it to search for: the list, as without a query.
    assert [r["title"] for r in search(api, library, "\x01\x1f")] == [
        "Ledger of ships",
        "Split",
        "Plural",
        "Harbour notes",
    ]


def test_dashboard_search_with_nul_and_its_snippets(user, library):
    client = Client()
    client.force_login(user)
    url = reverse("ingest:document-list", kwargs={"project_id": library.pk})

    nul = client.get(url, {"q": "harbour\x00"})
    hits = client.get(url, {"q": "lights"})

    assert nul.status_code == 400
    assert nul.content.decode() == middleware.DETAIL[0].upper() + middleware.DETAIL[1:]
    assert hits.status_code == 200
    html = hits.content.decode()
    assert "The harbour <mark>lights</mark> at night." in html
    assert {d.title for d in hits.context["documents"]} == {"Harbour notes", "Split"}


def test_punctuation_only_and_operator_only_queries_find_nothing(api, library):
    for q in ['"', "-", "or", "!!!", "&|:*"]:
        results = search(api, library, q)
        assert titles(results) <= {"Harbour notes", "Split", "Plural", "Ledger of ships"}


# --- syntax, rank, snippets: the same on both databases ---------------------------------


def test_websearch_syntax_phrases_or_and_not(api, library):
    assert titles(search(api, library, '"harbour lights"')) == {"Harbour notes"}
    assert titles(search(api, library, "harbour -lights -notes")) == {"Split"}
    assert titles(search(api, library, "harbourmaster or ledger")) == {"Plural", "Ledger of ships"}
    assert titles(search(api, library, 'lights -"harbour lights"')) == {"Split"}


def test_hits_come_best_first(api, project):
    document(project, "Once", "a word about tides", "and much else besides this")
    document(project, "Often", "tides", "tides tides tides")
    document(project, "Title tides", "tides again", "and again")

    results = search(api, project, "tides")

    # Matching chunks over the square root of the document's chunks, plus one
    # for the title.
    assert [(r["title"], r["rank"]) for r in results] == [
        ("Title tides", 1 + 1 / 2**0.5),
        ("Often", 2 / 2**0.5),
        ("Once", 1 / 2**0.5),
    ]


def test_the_snippet_is_the_first_matching_chunks_passage_on_every_page(api, project):
    # The passage comes with the hits, made for the rows of the page only:
    # a later page's hits have theirs too.
    for n in range(26):
        document(project, f"Doc {n}", f"Nothing, number {n}.", f"A Tide once, number {n}.", "tide")

    first = search(api, project, "tide")
    response = api.get(f"/api/projects/{project.pk}/documents/", {"q": "tide", "page": 2})
    [last] = response.json()["results"]

    for hit in [*first, last]:
        number = hit["title"].removeprefix("Doc ")
        assert hit["snippet"] == f"A <mark>Tide</mark> once, number {number}."


@postgres_only
def test_search_reads_the_gin_indexes(project):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = selectors.document_list(project=project, q="harbour").explain()
    assert "ingest_chunk_search_gin" in plan
    assert "ingest_document_search_gin" in plan


# --- real input, written by the real pipeline (COPY on PostgreSQL) ---------------------


@pytest.mark.django_db(transaction=True, databases=["default", "jobstate"])
def test_text_ingested_by_the_pipeline_is_searchable(api, project):
    from tests.ingest.test_pipeline import add_file, run, running_job

    source = Path("/usr/share/doc/adduser/copyright")
    content = source.read_bytes()
    job = running_job(project=project, chunk_size=400, chunk_overlap=0)
    add_file(job, "copyright.txt", content)
    run(job)

    [hit] = search(api, project, "GNU General Public License")

    assert hit["title"] == "copyright.txt"
    assert "<mark>" in hit["snippet"]
