"""EPUB 2 and 3: the title and authors from the package metadata, then each
spine item's visible text in reading order.

The container is read with zipfile and the chapters with the HTML parser the
HTML extractor uses, so a chapter is streamed, never whole in memory.
"""

import codecs
import io
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import BinaryIO
from urllib.parse import unquote
from xml.etree import ElementTree

from ingest.pipeline.blocks import TEXT_FRAGMENT_CHARS
from ingest.pipeline.errors import ExtractionError
from ingest.pipeline.html import _VisibleText
from ingest.pipeline.office.container import converts_damage, open_container

CONTAINER = "META-INF/container.xml"
ENCRYPTION = "META-INF/encryption.xml"
OCF = "{urn:oasis:names:tc:opendocument:xmlns:container}"
OPF = "{http://www.idpf.org/2007/opf}"
DC = "{http://purl.org/dc/elements/1.1/}"
XMLENC = "{http://www.w3.org/2001/04/xmlenc#}"
# Fonts are often obfuscated by these algorithms; that is not DRM.
FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
CHAPTER_TYPES = {"application/xhtml+xml", "text/html", "application/html"}
MAX_PACKAGE_XML = 16 * 1024 * 1024  # container.xml and the OPF are read whole
XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


@converts_damage("EPUB book")
def extract_epub(raw: BinaryIO, *, checkpoint: Callable[[], None]) -> Iterator[str]:
    with open_container(raw, "epub") as book:
        package_path = _package_path(book)
        package = _xml(book, package_path, "its package document")
        metadata = package.find(f"{OPF}metadata")
        if metadata is not None:
            yield from _metadata_lines(metadata)
        chapters = _spine(package, posixpath.dirname(package_path))
        _refuse_drm(book, chapters)
        for chapter in chapters:
            checkpoint()
            yield from _visible_text(book, chapter, checkpoint)
            yield "\n\n"


def _package_path(book: zipfile.ZipFile) -> str:
    container = _xml(book, CONTAINER, CONTAINER)
    for rootfile in container.iter(f"{OCF}rootfile"):
        path = rootfile.get("full-path")
        if path and rootfile.get("media-type", "application/oebps-package+xml").endswith("+xml"):
            return path
    raise ExtractionError(f"the EPUB book is damaged: its {CONTAINER} names no package document.")


def _xml(book: zipfile.ZipFile, name: str, what: str) -> ElementTree.Element:
    try:
        info = book.getinfo(name)
    except KeyError:
        raise ExtractionError(f"the EPUB book is damaged: {what} ({name}) is missing.") from None
    if info.file_size > MAX_PACKAGE_XML:
        raise ExtractionError(f"the EPUB book is damaged: {what} ({name}) is implausibly large.")
    try:
        return ElementTree.fromstring(book.read(info))
    except ElementTree.ParseError as exc:
        raise ExtractionError(
            f"the EPUB book is damaged: {what} is not valid XML ({exc})."
        ) from exc


def _metadata_lines(metadata: ElementTree.Element) -> Iterator[str]:
    title = metadata.find(f"{DC}title")
    if title is not None and (title.text or "").strip():
        yield title.text.strip() + "\n"
    authors = [(c.text or "").strip() for c in metadata.iter(f"{DC}creator")]
    if any(authors):
        yield ", ".join(author for author in authors if author) + "\n"
    yield "\n"


def _spine(package: ElementTree.Element, base: str) -> list[str]:
    """The zip member of each chapter in reading order."""
    manifest = {}
    for item in package.iter(f"{OPF}item"):
        href = item.get("href")
        if item.get("id") and href and item.get("media-type") in CHAPTER_TYPES:
            path = unquote(href.split("#", 1)[0])
            manifest[item.get("id")] = posixpath.normpath(posixpath.join(base, path))
    chapters = []
    for itemref in package.iter(f"{OPF}itemref"):
        member = manifest.get(itemref.get("idref"))
        if member and member not in chapters:
            chapters.append(member)
    return chapters


def _refuse_drm(book: zipfile.ZipFile, chapters: list[str]) -> None:
    if ENCRYPTION not in book.namelist():
        return
    encryption = _xml(book, ENCRYPTION, "its encryption list")
    for data in encryption.iter(f"{XMLENC}EncryptedData"):
        method = data.find(f"{XMLENC}EncryptionMethod")
        reference = data.find(f"{XMLENC}CipherData/{XMLENC}CipherReference")
        algorithm = method.get("Algorithm") if method is not None else None
        uri = unquote(reference.get("URI", "")) if reference is not None else ""
        if algorithm not in FONT_OBFUSCATION and posixpath.normpath(uri) in chapters:
            raise ExtractionError(
                "the EPUB book is protected by DRM (its chapters are encrypted); "
                "send a copy without DRM."
            )


def _visible_text(book: zipfile.ZipFile, member: str, checkpoint) -> Iterator[str]:
    try:
        source = book.open(member)
    except KeyError:
        raise ExtractionError(
            f"the EPUB book is damaged: its chapter {member} is listed but missing."
        ) from None
    with source:
        head = source.peek(1024)[:1024] if hasattr(source, "peek") else b""
        stream = io.TextIOWrapper(source, encoding=_encoding(head), errors="replace")
        parser = _VisibleText()
        while block := stream.read(TEXT_FRAGMENT_CHARS):
            parser.feed(block)
            yield from parser.out
            parser.out.clear()
            checkpoint()
        parser.close()
        yield from parser.out


def _encoding(head: bytes) -> str:
    """XML's rules: a byte order mark, else the declaration, else UTF-8."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    declared = XML_ENCODING.match(head)
    if declared:
        try:
            return codecs.lookup(declared.group(1).decode("ascii")).name
        except LookupError:
            pass
    return "utf-8-sig"
