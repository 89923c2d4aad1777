"""Office, EPUB and e-mail extraction alone: MB/s and peak memory.

Generates a text-heavy .docx and .xlsx of about ``--mb`` MB each (deterministic
words, so they barely compress), an .epub and an .eml of a quarter of that, and
a .pptx of ``--slides`` slides; then runs each extractor on its file in a
fresh child process (so each peak resident memory is its own) and, in the same
run, a baseline on the same file: unzipping it and parsing all of its XML with
the standard library's expat, element by element (for the .eml: the email
package's parse alone). Figures: MB/s of the file as uploaded, the ratio to
the baseline, peak RSS of the child.

    .venv/bin/python -m bench.office_extract [--mb 20] [--slides 300] [--rounds 3]
"""

import argparse
import io
import random
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench import common

EXTRACTORS = {
    "docx": "extract_docx",
    "xlsx": "extract_xlsx",
    "pptx": "extract_pptx",
    "epub": "extract_epub",
    "eml": "extract_eml",
}


def words(rng: random.Random, count: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyzéèàçôü"
    return " ".join(
        "".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(count)
    )


def make_docx(path: Path, mb: float, rng: random.Random) -> None:
    import docx

    # python-docx makes the package; the body is written as XML directly,
    # because adding hundreds of thousands of paragraphs through its objects
    # takes minutes.
    base = io.BytesIO()
    docx.Document().save(base)
    source = zipfile.ZipFile(base)
    body, size = [], 0
    while size < mb * common.MB * 1.6:
        paragraph = f"<w:p><w:r><w:t>{words(rng, 40)}</w:t></w:r></w:p>"
        body.append(paragraph)
        size += len(paragraph)
    document = source.read("word/document.xml").decode()
    start = document.index("<w:body>") + len("<w:body>")
    document = document[:start] + "".join(body) + document[start:]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = document.encode() if info.filename == "word/document.xml" else source.read(info)
            out.writestr(info.filename, data)


def make_xlsx(path: Path, mb: float, rng: random.Random) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Mesures")
    # Write in chunks and check the size now and then.
    row = 0
    while True:
        for _ in range(5000):
            row += 1
            sheet.append(
                [row, rng.random() * 1000, words(rng, 3), words(rng, 5), rng.randint(0, 10**9)]
            )
        if row * 100 > mb * common.MB:
            break
    book.save(path)


def make_pptx(path: Path, slides: int, rng: random.Random) -> None:
    import pptx

    deck = pptx.Presentation()
    for _ in range(slides):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = words(rng, 5)
        slide.placeholders[1].text_frame.text = words(rng, 120)
        slide.notes_slide.notes_text_frame.text = words(rng, 60)
    deck.save(path)


def make_epub(path: Path, mb: float, rng: random.Random) -> None:
    chapters = 40
    per_chapter = int(mb * common.MB / chapters)
    manifest = "".join(
        f'<item id="c{n}" href="c{n}.xhtml" media-type="application/xhtml+xml"/>'
        for n in range(chapters)
    )
    spine = "".join(f'<itemref idref="c{n}"/>' for n in range(chapters))
    with zipfile.ZipFile(path, "w") as out:
        out.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip")
        out.writestr(
            "META-INF/container.xml",
            '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        out.writestr(
            "content.opf",
            '<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Bench</dc:title></metadata>'
            f"<manifest>{manifest}</manifest><spine>{spine}</spine></package>",
            compress_type=zipfile.ZIP_DEFLATED,
        )
        for n in range(chapters):
            paragraphs, size = [], 0
            while size < per_chapter * 1.6:
                paragraph = f"<p>{words(rng, 40)}</p>\n"
                paragraphs.append(paragraph)
                size += len(paragraph)
            xhtml = (
                '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
                f"<head><title>c{n}</title></head><body>{''.join(paragraphs)}</body></html>"
            )
            out.writestr(f"c{n}.xhtml", xhtml, compress_type=zipfile.ZIP_DEFLATED)


def make_eml(path: Path, mb: float, rng: random.Random) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = "Rapport é"
    message["From"] = "a@example.org"
    message["To"] = "b@example.org"
    lines, size = [], 0
    while size < mb * common.MB / 1.1:
        line = words(rng, 12) + "\n"
        lines.append(line)
        size += len(line.encode())
    message.set_content("".join(lines), charset="iso-8859-1", cte="quoted-printable")
    path.write_bytes(message.as_bytes())


CHILD = """
import io, sys, time
kind, path, mode = sys.argv[1:4]
data = open(path, "rb").read()
if mode == "extract":
    import ingest.pipeline.office as office
    extractor = getattr(office, sys.argv[4])
start = time.perf_counter()
if mode == "extract":
    chars = sum(len(f) for f in extractor(io.BytesIO(data), checkpoint=lambda: None))
elif kind == "eml":
    import email, email.policy
    message = email.message_from_bytes(data, policy=email.policy.default)
    chars = len(message.get_body().get_content())
else:
    import zipfile
    from xml.etree.ElementTree import iterparse
    chars = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.endswith((".xml", ".xhtml", ".rels", ".opf")):
                with archive.open(name) as member:
                    for _event, element in iterparse(member):
                        chars += len(element.text or "")
                        element.clear()
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(seconds, chars, peak)
"""


def run_child(kind: str, path: Path, mode: str) -> tuple[float, int, int]:
    command = [sys.executable, "-c", CHILD, kind, str(path), mode, EXTRACTORS[kind]]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=common.ROOT)
    seconds, chars, rss_kb = out.stdout.split()
    return float(seconds), int(chars), int(rss_kb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20)
    parser.add_argument("--slides", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(9)
    figures = {"mb": args.mb, "rounds": args.rounds, "kinds": {}}
    with tempfile.TemporaryDirectory(prefix="bench-office-") as tmp:
        files = {kind: Path(tmp) / f"bench.{kind}" for kind in EXTRACTORS}
        print("generating files ...", flush=True)
        make_docx(files["docx"], args.mb, rng)
        make_xlsx(files["xlsx"], args.mb, rng)
        make_pptx(files["pptx"], args.slides, rng)
        make_epub(files["epub"], args.mb / 4, rng)
        make_eml(files["eml"], args.mb / 4, rng)
        header = f"{'kind':5} {'MB':>6} {'extract MB/s':>12} {'baseline MB/s':>13} {'ratio':>6} {'peak RSS MB':>11} {'baseline RSS':>12}"
        print(header)
        for kind, path in files.items():
            size = path.stat().st_size / common.MB
            measured, baseline = [], []
            # Alternate the two so drift on a shared machine hits both.
            for _ in range(args.rounds):
                measured.append(run_child(kind, path, "extract"))
                baseline.append(run_child(kind, path, "baseline"))
            seconds = statistics.median(m[0] for m in measured)
            base_seconds = statistics.median(b[0] for b in baseline)
            rss = max(m[2] for m in measured) / 1024
            base_rss = max(b[2] for b in baseline) / 1024
            row = {
                "file_mb": round(size, 2),
                "extract_mb_s": round(size / seconds, 2),
                "baseline_mb_s": round(size / base_seconds, 2),
                "ratio_to_baseline": round(base_seconds / seconds, 3),
                "peak_rss_mb": round(rss, 1),
                "baseline_peak_rss_mb": round(base_rss, 1),
                "chars": measured[0][1],
            }
            figures["kinds"][kind] = row
            print(
                f"{kind:5} {size:6.1f} {row['extract_mb_s']:12.2f} {row['baseline_mb_s']:13.2f} "
                f"{row['ratio_to_baseline']:6.2f} {rss:11.0f} {base_rss:12.0f}",
                flush=True,
            )
    print(f"load: {common.load_note()}")
    print(f"results: {common.write_results('office_extract', figures)}")


if __name__ == "__main__":
    main()
