"""File kinds judged by content, and the text each extractor streams out."""

import codecs
import io
import json
import zipfile

import pytest
from pypdf import PdfReader, PdfWriter

from ingest.pipeline import extract
from ingest.pipeline.extract import ExtractionError, UnsupportedType, detect_kind


def reader(data: bytes) -> io.BufferedReader:
    # The pipeline hands extractors a buffered reader (it peeks for a BOM).
    return io.BufferedReader(io.BytesIO(data))


def extracted(kind: str, data: bytes, checkpoint=lambda: None) -> str:
    return "".join(extract.extract(kind, reader(data), checkpoint=checkpoint))


def minimal_pdf(*pages: str) -> bytes:
    """A PDF written by hand: one Helvetica text line per page, a correct xref table."""
    count = len(pages)
    font = 3 + 2 * count
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
    ]
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def encrypted_pdf(text: str, *, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(minimal_pdf(text))))
    writer.encrypt(user_password, owner_password="owner", algorithm="RC4-128")
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
    ],
)
def test_detect_kind_of_text_follows_extension(name, head, kind):
    assert detect_kind(name, head) == kind


@pytest.mark.parametrize("name", ["report.pdf", "report.txt", "report", "report.zip"])
def test_detect_kind_recognises_pdf_by_content_whatever_its_name(name):
    assert detect_kind(name, minimal_pdf("x")[:64]) == "pdf"


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


@pytest.mark.parametrize("name", ["image.png", "letter.docx", "archive.tar.gz"])
def test_detect_kind_refuses_unsupported_extension(name):
    with pytest.raises(UnsupportedType, match="not supported"):
        detect_kind(name, b"whatever")


@pytest.mark.parametrize(
    "head",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # nul bytes
        b"\xc3\x28 invalid utf-8 continuation",
        bytes(range(128, 256)),
        "caf\xe9 latin-1".encode("latin-1"),
    ],
)
def test_detect_kind_refuses_binary_junk(head):
    with pytest.raises(UnsupportedType, match="not UTF-8 text"):
        detect_kind("upload.txt", head)


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


def test_detect_kind_refuses_utf16_without_bom():
    with pytest.raises(UnsupportedType):
        detect_kind("notes.txt", "hello".encode("utf-16-le"))


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


def test_invalid_utf8_is_replaced_not_fatal():
    assert extracted("txt", b"ok \xff ok") == "ok \ufffd ok"


def test_large_text_streams_in_blocks():
    text = "word " * 60_000  # 300 000 characters, several blocks

    fragments = list(extract.extract("txt", reader(text.encode()), checkpoint=lambda: None))

    assert len(fragments) > 1
    assert max(len(f) for f in fragments) <= extract.BLOCK
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
    filler = "<p>" + "x" * (extract.BLOCK - 10) + "</p>"
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


def test_deeply_nested_json_is_an_extraction_error_not_a_crash():
    data = b"[" * 100_000 + b"]" * 100_000

    with pytest.raises(ExtractionError, match="JSON"):
        extracted("json", data)


def test_nested_json_within_limits_is_read_whole():
    depth = 500
    data = b'{"k": ' * depth + b'"deep"' + b"}" * depth

    assert extracted("json", data) == ".".join(["k"] * depth) + ": deep\n"


def test_json_with_an_integer_too_long_to_convert_is_an_extraction_error():
    with pytest.raises(ExtractionError, match="JSON"):
        extracted("json", b'{"n": ' + b"7" * 5000 + b"}")


# --- pdf ----------------------------------------------------------------------------


def test_pdf_text_comes_out_page_by_page():
    pages = []

    text = extracted("pdf", minimal_pdf("Hello PDF", "Second page"), lambda: pages.append(1))

    assert "Hello PDF" in text
    assert "Second page" in text
    assert text.index("Hello PDF") < text.index("Second page")
    assert len(pages) == 2  # a checkpoint before each page


def test_pdf_checkpoint_exception_passes_through():
    class Stop(Exception):
        pass

    def checkpoint():
        raise Stop()

    with pytest.raises(Stop):
        extracted("pdf", minimal_pdf("Hello PDF"), checkpoint)


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4 this is not really a pdf",
        b"%PDF-",
        minimal_pdf("Hello PDF")[:200],
        minimal_pdf("Hello PDF").replace(b"xref", b"xrfe"),
        # pypdf raises LimitReachedError (not a PdfReadError) on this one...
        minimal_pdf("Hello PDF").replace(b"xref\n0 6", b"xref\n0 74"),
        # ... and AttributeError on a trailer that is not a dictionary.
        minimal_pdf("Hello PDF").replace(b"trailer\n<< /Size 6 /Root 1 0 R >>", b"trailer 0 R >>"),
    ],
    ids=["not a pdf", "header only", "truncated", "no xref", "xref size", "broken trailer"],
)
def test_broken_pdf_is_an_extraction_error(data):
    with pytest.raises(ExtractionError, match="PDF"):
        extracted("pdf", data)


def test_password_protected_pdf_is_an_extraction_error():
    with pytest.raises(ExtractionError, match="encrypted"):
        extracted("pdf", encrypted_pdf("Secret", user_password="pw"))


def test_pdf_encrypted_without_a_user_password_is_read():
    """Owner-password-only PDFs (print or copy restrictions) open for anyone."""
    assert "Open to all" in extracted("pdf", encrypted_pdf("Open to all", user_password=""))


# --- dispatch -----------------------------------------------------------------------


def test_zip_cannot_be_extracted_directly():
    with pytest.raises(UnsupportedType):
        extracted("zip", zip_bytes({"a.txt": b"a"}))


def test_pdf_cancel_raised_while_pypdf_reads_passes_through():
    """The pipeline's reader checkpoints as pypdf reads: a cancel there is no
    damaged PDF."""

    class Stop(Exception):
        pass

    class StoppingRaw(io.RawIOBase):
        def __init__(self, data):
            self.inner = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return True

        def seek(self, offset, whence=io.SEEK_SET):
            return self.inner.seek(offset, whence)

        def tell(self):
            return self.inner.tell()

        def readinto(self, buffer):
            raise Stop()

    raw = io.BufferedReader(StoppingRaw(minimal_pdf("Hello PDF")))
    with pytest.raises(Stop):
        "".join(extract.extract("pdf", raw, checkpoint=lambda: None))
