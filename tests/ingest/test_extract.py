"""File kinds judged by content, and the text each extractor streams out."""

import codecs
import io
import json
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from ingest.pipeline import readers, text_formats
from ingest.pipeline.readers import ExtractionError, UnsupportedType, detect_kind


def reader(data: bytes) -> io.BufferedReader:
    # The pipeline hands extractors a buffered reader (it peeks for a BOM).
    return io.BufferedReader(io.BytesIO(data))


def extracted(kind: str, data: bytes, checkpoint=lambda: None, info=None) -> str:
    return "".join(readers.extract(kind, reader(data), checkpoint=checkpoint, info=info))


CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "pdf"


def corpus_pdf(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def owner_password_only(data: bytes) -> bytes:
    """A real PDF given an owner password (print/copy restrictions) and no
    user password, by pypdf, as many producers do."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt("", owner_password="owner", permissions_flag=0, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


# --- detect_kind --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "head", "kind"),
    [
        ("notes.txt", b"plain text", "txt"),
        ("notes.TEXT", b"plain text", "txt"),
        ("README", b"no extension at all", "txt"),
        ("readme.md", b"# Title", "md"),
        ("dir\\Page.HTM", b"<p>hi</p>", "html"),
        ("page.html", b"<p>hi</p>", "html"),
        ("table.csv", b"a,b\n1,2\n", "csv"),
        ("data.json", b'{"a": 1}', "json"),
        ("empty.txt", b"", "txt"),
        ("index.rst", b"Title\n=====\n", "txt"),
        ("notes.org", b"* Heading\n", "txt"),
        ("server.log", b"12:00 started\n", "txt"),
        ("LICENSE", b"Permission is hereby granted", "txt"),
        ("table.tsv", b"a\tb\n", "tsv"),
        ("rows.ndjson", b'{"a": 1}\n', "jsonl"),
        ("rows.jsonl", b'{"a": 1}\n', "jsonl"),
        ("message.eml", b"Subject: hi\n\nbody", "eml"),
        ("page.xhtml", b"<html/>", "html"),
    ],
)
def test_detect_kind_of_text_follows_extension(name, head, kind):
    assert detect_kind(name, head) == kind


@pytest.mark.parametrize("name", ["report.pdf", "report.txt", "report", "report.zip"])
def test_detect_kind_recognises_pdf_by_content_whatever_its_name(name):
    assert detect_kind(name, corpus_pdf("minimal-document.pdf")[:64]) == "pdf"


@pytest.mark.parametrize(
    "head", [zip_bytes({"a.txt": b"a"})[:64], zip_bytes({})[:64]], ids=["zip", "empty zip"]
)
def test_detect_kind_recognises_zip_by_content(head):
    assert detect_kind("bundle.zip", head) == "zip"
    assert detect_kind("bundle.dat.txt", head) == "zip"


@pytest.mark.parametrize(
    ("name", "head"),
    [("fake.pdf", b"just some text"), ("fake.zip", b"just some text"), ("fake.pdf", b"PK\x05")],
)
def test_detect_kind_refuses_binary_extension_without_its_signature(name, head):
    with pytest.raises(UnsupportedType, match="not a"):
        detect_kind(name, head)


@pytest.mark.parametrize("name", ["image.png", "archive.tar.gz"])
def test_detect_kind_refuses_binary_content_of_an_unsupported_type(name):
    with pytest.raises(UnsupportedType, match="not supported"):
        detect_kind(name, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")


@pytest.mark.parametrize("name", ["server.cfg", "setup.py", "image.png", "notes"])
def test_text_is_text_whatever_its_name(name):
    assert detect_kind(name, b"plain words, nothing else\n") == "txt"


def test_detect_kind_refuses_a_binary_extension_holding_text():
    with pytest.raises(UnsupportedType, match="content is text, not a docx"):
        detect_kind("letter.docx", b"whatever")


@pytest.mark.parametrize(
    "head",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # nul bytes
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00>\x00",
        bytes(range(0, 32)) * 8,
    ],
    ids=["png", "elf", "control characters"],
)
def test_detect_kind_refuses_binary_junk(head):
    with pytest.raises(UnsupportedType, match="neither text nor a supported kind"):
        detect_kind("upload", head)


@pytest.mark.parametrize("name", ["legacy.doc", "budget.xls", "protected.docx", "upload"])
def test_detect_kind_refuses_ole_compound_files_with_a_sentence(name):
    head = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504

    with pytest.raises(UnsupportedType, match=r"legacy Word/Excel/PowerPoint.*password"):
        detect_kind(name, head)


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1252", "Grüße aus Köln — naïve café, déjà vu."),
        ("latin-1", "Ça coûte très cher, à bientôt."),
        ("shift_jis", "日本語のテキストです。東京都"),
        ("koi8-r", "Съешь же ещё этих мягких французских булок"),
    ],
)
def test_detect_kind_accepts_legacy_encodings(encoding, text):
    assert detect_kind("notes.txt", (text * 20).encode(encoding)) == "txt"


def test_detect_kind_knows_a_mail_message_by_its_headers():
    head = b"Received: by x\r\nFrom: Ada <ada@example.org>\r\nTo: b@example.org\r\n"
    head += b"Subject: Hello\r\n\r\nBody"

    assert detect_kind("saved-message", head) == "eml"
    assert detect_kind("notes.txt", b"Title: not a mail\nAuthor: me\n\nbody") == "txt"


def test_detect_kind_knows_html_by_its_doctype_whatever_its_name():
    assert detect_kind("page", b"\n<!DOCTYPE html><html><body>x") == "html"


def test_detect_kind_accepts_head_cut_inside_a_multibyte_character():
    head = "naïve ☃".encode()[:-1]

    assert detect_kind("notes.txt", head) == "txt"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_detect_kind_accepts_utf16_text_with_bom(encoding):
    data = "héllo wörld".encode(encoding)
    if encoding != "utf-16":
        bom = codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE
        data = bom + data

    assert detect_kind("notes.txt", data) == "txt"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_detect_kind_accepts_wide_text_without_bom(encoding):
    assert detect_kind("notes.txt", "hello wörld, ça va?\n".encode(encoding)) == "txt"


# --- plain text and markdown --------------------------------------------------------


@pytest.mark.parametrize("kind", ["txt", "md"])
def test_plain_text_comes_out_as_written_with_universal_newlines(kind):
    text = "# Title\n\nSome *text* — naïve ☃\r\nline two\rthree\n"

    assert extracted(kind, text.encode()) == text.replace("\r\n", "\n").replace("\r", "\n")


def test_plain_text_drops_utf8_bom():
    assert extracted("txt", codecs.BOM_UTF8 + b"bom first") == "bom first"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_text_is_decoded(encoding):
    data = "\ufeffhéllo wörld\nsecond".encode(encoding)
    if encoding == "utf-16":
        data = "héllo wörld\nsecond".encode(encoding)

    assert extracted("txt", data) == "héllo wörld\nsecond"


def test_a_legacy_text_whose_first_accent_comes_late_is_read_in_its_encoding():
    """The whole file is judged, not its head: megabytes of ASCII, then cp1252."""
    data = b"plain ascii words. " * 200_000 + "Gruß, déjà vu — naïve.".encode("cp1252")
    info = {}

    text = extracted("txt", data, info=info)

    assert text.endswith("Gruß, déjà vu — naïve.")
    assert info["encoding"] == "cp1252"


@pytest.mark.parametrize(
    ("encoding", "recorded"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),
        ("utf-16-le", "utf-16-le"),
        ("utf-16-be", "utf-16-be"),
        ("utf-32", "utf-32"),
        ("utf-32-le", "utf-32-le"),
        ("utf-32-be", "utf-32-be"),
        ("cp1252", "cp1252"),
        ("shift_jis", "cp932"),  # Microsoft's superset of Shift JIS
        ("koi8-r", "koi8-r"),
    ],
)
def test_text_in_any_common_encoding_is_decoded_and_its_encoding_recorded(encoding, recorded):
    texts = {
        "shift_jis": "日本語のテキストです。東京都の天気は晴れ。",
        "koi8-r": "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    }
    text = texts.get(encoding, "Grüße aus Köln — naïve café, déjà vu. 東京") * 10
    if encoding == "cp1252":
        text = text.replace(" 東京", "")
    info = {}

    assert extracted("txt", text.encode(encoding), info=info) == text
    assert info["encoding"] == recorded


def test_large_text_streams_in_blocks():
    text = "word " * 60_000  # 300 000 characters, several blocks

    fragments = list(readers.extract("txt", reader(text.encode()), checkpoint=lambda: None))

    assert len(fragments) > 1
    assert max(len(f) for f in fragments) <= text_formats.TEXT_FRAGMENT_CHARS
    assert "".join(fragments) == text


# --- html ---------------------------------------------------------------------------


def test_html_keeps_visible_text_only():
    html = (
        b"<!doctype html><html><head><title>Tab title</title>"
        b"<style>body { color: red }</style><script>var secret = 1;</script></head>"
        b"<body><h1>Heading</h1><p>First &amp; <b>bold</b> para.</p>"
        b"<script type='module'>import x from 'y'</script>"
        b"<noscript>enable js</noscript><template><p>tpl</p></template>"
        b"<svg><text>vector</text></svg><div>Last</div></body></html>"
    )

    text = extracted("html", html)

    for visible in ("Heading", "First & bold para.", "Last"):
        assert visible in text
    for hidden in ("Tab title", "color", "secret", "import", "enable js", "tpl", "vector"):
        assert hidden not in text


def test_html_blocks_become_line_breaks():
    text = extracted("html", b"<p>one</p><p>two</p><ul><li>a</li><li>b</li></ul>x<br>y")

    assert [line for line in text.split("\n") if line] == ["one", "two", "a", "b", "x", "y"]


def test_html_without_closing_head_keeps_body_text():
    """</head> is optional in HTML: <body> (or any body content) closes the head."""
    html = b"<html><head><title>T</title><meta charset='utf-8'><body><p>Body text</p>"

    text = extracted("html", html)

    assert "Body text" in text
    assert "T" not in text.replace("Body text", "")


def test_html_with_no_head_tags_at_all_keeps_text():
    assert extracted("html", b"<p>bare fragment</p>").strip() == "bare fragment"


def test_html_split_across_blocks_is_parsed_whole():
    filler = "<p>" + "x" * (text_formats.TEXT_FRAGMENT_CHARS - 10) + "</p>"
    html = f"{filler}<scr" + "ipt>hidden()</script><p>after &eacute;t&eacute;</p>"

    text = extracted("html", html.encode())

    assert "hidden" not in text
    assert "after été" in text


# --- csv ----------------------------------------------------------------------------


def test_csv_rows_become_lines_of_cells():
    data = b'name , city\nada,"London, UK"\n"multi\nline",x\n'

    assert extracted("csv", data) == "name, city\nada, London, UK\nmulti\nline, x\n"


def test_csv_with_bom_and_crlf():
    assert extracted("csv", codecs.BOM_UTF8 + b"a,b\r\n1,2\r\n") == "a, b\n1, 2\n"


# --- json ---------------------------------------------------------------------------


def test_json_values_come_out_with_their_paths():
    data = {"title": "Doc", "tags": ["a", "b"], "meta": {"pages": 2, "draft": False, "x": None}}

    text = extracted("json", json.dumps(data).encode())

    assert text == "title: Doc\ntags: a\ntags: b\nmeta.pages: 2\nmeta.draft: False\n"


def test_json_top_level_scalars_and_lists():
    assert extracted("json", b'["x", 1, [2.5]]') == "x\n1\n2.5\n"
    assert extracted("json", b'"just a string"') == "just a string\n"


@pytest.mark.parametrize("data", [b'{"a": 1,', b"{'a': 1}", b"", b"not json", b'{"a": 1} trailing'])
def test_malformed_json_is_an_extraction_error(data):
    with pytest.raises(ExtractionError, match="JSON"):
        extracted("json", data)


def test_deeply_nested_json_is_read_as_a_stream_not_a_crash():
    data = b"[" * 100_000 + b'"deep"' + b"]" * 100_000

    assert extracted("json", data) == "deep\n"


def test_nested_json_within_limits_is_read_whole():
    depth = 500
    data = b'{"k": ' * depth + b'"deep"' + b"}" * depth

    assert extracted("json", data) == ".".join(["k"] * depth) + ": deep\n"


def test_json_with_an_integer_too_long_to_convert_is_an_extraction_error():
    with pytest.raises(ExtractionError, match="JSON"):
        extracted("json", b'{"n": ' + b"7" * 5000 + b"}")


# --- pdf ----------------------------------------------------------------------------


def test_pdf_text_comes_out_page_by_page_with_a_checkpoint_before_each():
    calls = []
    info = {}

    text = "".join(
        readers.extract(
            "pdf",
            reader(corpus_pdf("pdflatex-4-pages.pdf")),
            checkpoint=lambda: calls.append(1),
            info=info,
        )
    )

    assert info["pages"] == 4
    assert len(calls) == 4
    assert text.startswith("Hello, here is some text without a meaning.")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("002-trivial-libre-office-writer.pdf", "Lorem ipsum dolor sit amet"),
        ("google-doc-document.pdf", "Beautiful is better than ugly."),
        ("crazyones-pdfa.pdf", "The Crazy Ones"),
        # Arabic beside Latin, as the page's HTML source has it: "حَبيبي habibi".
        ("habibi.pdf", "\u062d\u064e\u0628\u064a\u0628\u064a habibi"),
    ],
)
def test_pdfs_of_real_producers_give_their_text(name, words):
    path = CORPUS / name

    with path.open("rb") as raw:
        text = "".join(readers.extract("pdf", raw, checkpoint=lambda: None, path=path))

    assert words in text


def test_pdf_opened_from_its_path_reads_the_file_itself():
    path = CORPUS / "minimal-document.pdf"
    info = {}

    with path.open("rb") as raw:
        text = "".join(readers.extract("pdf", raw, checkpoint=lambda: None, info=info, path=path))

    assert "Lorem ipsum" in text
    assert info == {"pages": 1}


def test_pdf_checkpoint_exception_passes_through():
    class Stop(Exception):
        pass

    def checkpoint():
        raise Stop()

    with pytest.raises(Stop):
        extracted("pdf", corpus_pdf("minimal-document.pdf"), checkpoint)


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4 this is not really a pdf",
        b"%PDF-",
        corpus_pdf("minimal-document.pdf")[:200],
    ],
    ids=["not a pdf", "header only", "truncated"],
)
def test_broken_pdf_is_an_extraction_error(data):
    with pytest.raises(ExtractionError, match="the PDF could not be read"):
        extracted("pdf", data)


def test_password_protected_pdf_fails_saying_so():
    """LibreOffice's own password protection (the collection names the password; it is not
    taken)."""
    with pytest.raises(ExtractionError, match="protected by a password"):
        extracted("pdf", corpus_pdf("libreoffice-writer-password.pdf"))


def test_pdf_with_only_an_owner_password_is_read():
    """Owner-password-only PDFs (print or copy restrictions) open for anyone."""
    data = owner_password_only(corpus_pdf("minimal-document.pdf"))
    assert PdfReader(io.BytesIO(data)).is_encrypted

    assert "Lorem ipsum" in extracted("pdf", data)


def test_pdf_without_a_text_layer_fails_saying_so():
    with pytest.raises(ExtractionError, match=r"no text layer.*OCR"):
        extracted("pdf", corpus_pdf("grayscale-image.pdf"))


# --- dispatch -----------------------------------------------------------------------


def test_zip_cannot_be_extracted_directly():
    with pytest.raises(UnsupportedType):
        extracted("zip", zip_bytes({"a.txt": b"a"}))


@pytest.mark.parametrize(
    ("name", "head"),
    [("logo.png", b"\x89PNG"), ("photo.jpg", b"\xff\xd8\xff\xe0"), ("notes.txt", b"\x7fELF\x02")],
)
def test_known_binary_signatures_are_not_taken_for_legacy_text(name, head):
    """A few bytes of a PNG read as "‰PNG" in cp1252: the magic number decides."""
    with pytest.raises(UnsupportedType, match=r"not supported|not text"):
        detect_kind(name, head)


def test_text_that_starts_like_a_signature_is_still_text():
    assert detect_kind("notes.txt", b"MZ is a postcode prefix\n") == "txt"
