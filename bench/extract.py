"""Extraction per kind: alone and through the whole pipeline, PDFium against
pypdf, and the work horse's peak memory on a 200 MB JSON and a 600-page PDF.

Inputs are made at bench time by real tools (python-docx, python-pptx,
openpyxl, the email package; PDFs are real corpus pages, from pdfTeX,
LibreOffice and Google Docs, concatenated by PDFium). Figures:

- extraction alone: MB/s (and pages/s for PDFs) of ``readers.extract`` in
  this process, fully consumed;
- pipeline per worker: MB/s (and pages/s) from the job's ``started_at`` to
  ``finished_at`` with one real rqworker: copy, extract, canonicalize,
  chunk and write to PostgreSQL;
- this product's PDF reader (PDFium plus layout) vs plain PDFium vs pypdf:
  the same PDF files, text of every page, in turn in the same run, CPU
  time, best of three rounds; the target is ours at least 5x pypdf;
- peak RSS (VmHWM) of the work horse on a 200 MB JSON file and a 600-page
  PDF; the target is under 300 MB.

    .venv/bin/python -m bench.extract [--mb 8] [--json-mb 200] [--pdf-pages 600]
"""

import argparse
import io
import json
import math
import random
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from bench import common

CORPUS = common.ROOT / "tests" / "corpus" / "pdf"
PDF_SOURCES = [
    "pdflatex-4-pages.pdf",
    "multicolumn.pdf",
    "pdflatex-outline.pdf",
    "002-trivial-libre-office-writer.pdf",
    "google-doc-document.pdf",
]
MEMORY_TARGET_MB = 300
PDFIUM_TARGET_RATIO = 5


# --- inputs -------------------------------------------------------------------


def sentences(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    words = ["données", "Köln", "réseau", "東京", "ledger", "harbour", "naïve", "quartz", "café"]
    words += ["meadow", "lantern", "copper", "orbit", "timber", "glacier", "anchor", "summit"]
    return [" ".join(rng.choices(words, k=12)).capitalize() + "." for _ in range(count)]


def make_inputs(tmp: Path, mb: float, seed: int) -> dict[str, Path]:
    lines = sentences(seed, int(mb * common.MB / 90))
    text = "\n".join(lines) + "\n"
    inputs = {}

    def write(name: str, data: bytes) -> None:
        inputs[name] = tmp / name
        inputs[name].write_bytes(data)

    write("text.txt", text.encode())
    write("legacy.txt", text.replace("東京", "Tokyo").encode("cp1252"))
    write("utf16.txt", text.encode("utf-16-le"))
    write(
        "page.html",
        (
            "<html><head><meta charset='utf-8'><script>var x = 1;</script></head><body>"
            + "".join(f"<p>{line}</p>" for line in lines)
            + "</body></html>"
        ).encode(),
    )
    write(
        "table.csv", "".join(f"{i};{line};{len(line)}\n" for i, line in enumerate(lines)).encode()
    )
    write("table.tsv", "".join(f"{i}\t{line}\n" for i, line in enumerate(lines)).encode())
    records = [{"id": i, "text": line, "tags": ["a", "b"]} for i, line in enumerate(lines)]
    write("data.json", json.dumps(records).encode())
    write("rows.jsonl", "".join(json.dumps(r) + "\n" for r in records).encode())
    write("doc.docx", docx_bytes(lines[: len(lines) // 4]))
    write("deck.pptx", pptx_bytes(lines[: min(len(lines) // 20, 2000)]))
    write("sheet.xlsx", xlsx_bytes(lines[: len(lines) // 4]))
    write("message.eml", eml_bytes(text))
    inputs["corpus.pdf"] = concatenated_pdf(tmp / "corpus.pdf", pages=120)
    return inputs


def docx_bytes(lines: list[str]) -> bytes:
    import docx

    document = docx.Document()
    # Paragraphs of ten sentences: python-docx appends a paragraph in time
    # that grows with the document, and the bench is about reading.
    for start in range(0, len(lines), 10):
        document.add_paragraph(" ".join(lines[start : start + 10]))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_bytes(lines: list[str]) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for start in range(0, len(lines), 10):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = lines[start][:40]
        slide.placeholders[1].text = "\n".join(lines[start : start + 10])
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def xlsx_bytes(lines: list[str]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    for number, line in enumerate(lines):
        sheet.append([number, line, len(line)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def eml_bytes(text: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "bench"
    message.set_content(text)
    return message.as_bytes()


def concatenated_pdf(path: Path, *, pages: int) -> Path:
    """Real producers' pages, imported by PDFium until ``pages`` are reached."""
    import pypdfium2 as pdfium

    target = pdfium.PdfDocument.new()
    sources = [pdfium.PdfDocument(CORPUS / name) for name in PDF_SOURCES]
    while len(target) < pages:
        for source in sources:
            take = min(len(source), pages - len(target))
            if take:
                target.import_pages(source, list(range(take)))
    target.save(path)
    return path


def big_json(path: Path, mb: float, seed: int) -> Path:
    """A JSON array of records, written as a stream, of about ``mb`` megabytes."""
    lines = sentences(seed, 2000)
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        number, written = 0, 1
        # Just under the size: the default per-file limit is 200 MiB exactly.
        while written < mb * common.MB - 4096:
            record = json.dumps({"id": number, "text": lines[number % 2000], "n": [1, 2, 3]})
            out.write(("," if number else "") + record)
            written += len(record) + 1
            number += 1
        out.write("]")
    return path


# --- extraction alone ---------------------------------------------------------


def kind_of(path: Path) -> str:
    from ingest.pipeline import readers

    with path.open("rb") as raw:
        return readers.detect_file_kind(path.name, raw)


def extract_alone(path: Path) -> dict:
    from ingest.pipeline import readers

    kind = kind_of(path)
    info: dict = {}
    started = time.perf_counter()
    characters = 0
    with path.open("rb") as raw:
        reader = io.BufferedReader(raw, 64 * 1024)
        fragments = readers.extract(kind, reader, checkpoint=lambda: None, info=info, path=path)
        for fragment in fragments:
            characters += len(fragment)
    seconds = time.perf_counter() - started
    size_mb = path.stat().st_size / common.MB
    figures = {
        "file": path.name,
        "kind": kind,
        "size_mb": round(size_mb, 2),
        "seconds": round(seconds, 3),
        "mb_s": round(size_mb / seconds, 2),
        "characters": characters,
        **{k: v for k, v in info.items() if k in ("encoding", "pages")},
    }
    if "pages" in info:
        figures["pages_s"] = round(info["pages"] / seconds, 1)
    return figures


def pdf_libraries(paths: list[Path], rounds: int = 3) -> dict:
    """Every page's text of the same files: by this product's reader
    (PDFium plus layout: what a job stores), by PDFium's plain text, and by
    pypdf. Each in turn, ``rounds`` times, the best round of each kept; CPU
    time of this process, so that other work on the machine does not count."""
    import pypdfium2 as pdfium
    from pypdf import PdfReader

    from ingest.pipeline import readers

    def with_ours(path: Path) -> int:
        info: dict = {}
        for _fragment in readers.extract(
            "pdf", io.BytesIO(), checkpoint=lambda: None, info=info, path=path
        ):
            pass
        return info["pages"]

    def with_pdfium(path: Path) -> int:
        document = pdfium.PdfDocument(path)
        pages = len(document)
        for number in range(pages):
            page = document[number]
            textpage = page.get_textpage()
            textpage.get_text_range()
            textpage.close()
            page.close()
        document.close()
        return pages

    def with_pypdf(path: Path) -> int:
        reader = PdfReader(path)
        for page in reader.pages:
            page.extract_text()
        return len(reader.pages)

    readers_by_label = {"ours": with_ours, "pypdfium2": with_pdfium, "pypdf": with_pypdf}
    best: dict[str, float] = {}
    pages = 0
    for _round in range(rounds):
        for label, read in readers_by_label.items():
            started = time.process_time()
            pages = sum(read(path) for path in paths)
            best[label] = min(best.get(label, math.inf), time.process_time() - started)
    figures = {
        label: {
            "pages": pages,
            "cpu_seconds": round(seconds, 3),
            "pages_s": round(pages / seconds, 1),
        }
        for label, seconds in best.items()
    }
    figures["ratio"] = round(best["pypdf"] / best["ours"], 1)
    figures["plain_pdfium_ratio"] = round(best["pypdf"] / best["pypdfium2"], 1)
    figures["target_ratio"] = PDFIUM_TARGET_RATIO
    return figures


# --- through the pipeline -------------------------------------------------------


def through_pipeline(*, user, path: Path) -> dict:
    from ingest.models import IngestJob

    project = common.new_project(user, f"extract {path.name}")
    job = common.create_job(project=project, user=user, paths=[path])
    common.wait_for(
        lambda: common.job_status(job.pk) in ("completed", "failed", "cancelled"),
        timeout=1200,
        interval=0.05,
        message=f"job {job.pk} to finish",
    )
    job = IngestJob.all_objects.get(pk=job.pk)
    ingest_file = job.files.get()
    if job.status != "completed":
        raise RuntimeError(f"{path.name}: job ended {job.status}: {job.error} {ingest_file.error}")
    seconds = (job.finished_at - job.started_at).total_seconds()
    size_mb = path.stat().st_size / common.MB
    common.remove_job_uploads(job)
    figures = {
        "file": path.name,
        "kind": ingest_file.kind,
        "size_mb": round(size_mb, 2),
        "seconds": round(seconds, 3),
        "mb_s": round(size_mb / seconds, 2),
        "chunks": ingest_file.chunks,
    }
    if pages := ingest_file.details.get("pages"):
        figures["pages"] = pages
        figures["pages_s"] = round(pages / seconds, 1)
    return figures


def peak_memory(worker, *, user, path: Path) -> dict:
    watcher = common.MemoryWatcher(worker.pid)
    watcher.start()
    try:
        run = through_pipeline(user=user, path=path)
    finally:
        watcher.stop()
    horses = watcher.horses()
    if not horses:
        raise RuntimeError("no work horse was seen while the job ran")
    horse = max(horses.values(), key=lambda h: h["vmhwm_mb"])
    return {
        **run,
        "horse_vmhwm_mb": round(horse["vmhwm_mb"], 1),
        "horse_rss_at_fork_mb": round(horse["rss_at_fork_mb"], 1),
        "target_mb": MEMORY_TARGET_MB,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=8, help="size of each kind's input")
    parser.add_argument("--json-mb", type=float, default=200)
    parser.add_argument("--pdf-pages", type=int, default=600)
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args(argv)

    bench = common.setup("extract")
    try:
        print(f"# extraction per kind ({common.load_note()})")
        inputs = make_inputs(bench.tmp, args.mb, args.seed)
        alone = [extract_alone(path) for path in inputs.values()]
        pdfs = [CORPUS / name for name in PDF_SOURCES] + [inputs["corpus.pdf"]]
        libraries = pdf_libraries(pdfs)
        user = common.bench_user()
        worker = common.start_worker(
            bench,
            INGEST_MAX_FILE_BYTES=str(1024 * common.MB),
            INGEST_MAX_TOTAL_BYTES=str(1024 * common.MB),
        )
        pipeline = [through_pipeline(user=user, path=path) for path in inputs.values()]
        report({"alone": alone, "pipeline": pipeline, "pdf_libraries": libraries, "memory": []})
        big = big_json(bench.tmp / "big.json", args.json_mb, args.seed)
        long_pdf = concatenated_pdf(bench.tmp / "long.pdf", pages=args.pdf_pages)
        memory = [peak_memory(worker, user=user, path=path) for path in (big, long_pdf)]
        figures = {
            "alone": alone,
            "pipeline": pipeline,
            "pdf_libraries": libraries,
            "memory": memory,
            "load_after": common.load_note(),
        }
        report_memory(figures)
        print(f"results: {common.write_results('extract', figures)}")
    finally:
        bench.close()
    return 0


def report(figures: dict) -> None:
    pipeline = {row["file"]: row for row in figures["pipeline"]}
    print(
        f"  {'file':14} {'kind':6} {'MB':>6} {'alone MB/s':>11} {'pages/s':>8} "
        f"{'pipeline MB/s':>14} {'pages/s':>8}  encoding"
    )
    for row in figures["alone"]:
        piped = pipeline[row["file"]]
        print(
            f"  {row['file']:14} {row['kind']:6} {row['size_mb']:6.2f} {row['mb_s']:11.2f} "
            f"{row.get('pages_s', ''):>8} {piped['mb_s']:14.2f} {piped.get('pages_s', ''):>8}  "
            f"{row.get('encoding', '')}"
        )
    lib = figures["pdf_libraries"]
    verdict = "OK" if lib["ratio"] >= lib["target_ratio"] else "UNDER TARGET"
    print(
        f"PDF, same {lib['pypdf']['pages']} pages (CPU s, best of rounds): ours (PDFium + layout) "
        f"{lib['ours']['cpu_seconds']:.2f} s ({lib['ours']['pages_s']} pages/s), plain PDFium "
        f"{lib['pypdfium2']['cpu_seconds']:.2f} s ({lib['pypdfium2']['pages_s']} pages/s), pypdf "
        f"{lib['pypdf']['cpu_seconds']:.2f} s ({lib['pypdf']['pages_s']} pages/s): ours "
        f"{lib['ratio']}x pypdf (target >= {lib['target_ratio']}x: {verdict}), plain PDFium "
        f"{lib['plain_pdfium_ratio']}x"
    )


def report_memory(figures: dict) -> None:
    for row in figures["memory"]:
        verdict = "OK" if row["horse_vmhwm_mb"] < row["target_mb"] else "OVER TARGET"
        pages = f", {row['pages']} pages" if "pages" in row else ""
        print(
            f"memory {row['file']} ({row['size_mb']:.0f} MB{pages}, {row['mb_s']:.2f} MB/s): work "
            f"horse VmHWM {row['horse_vmhwm_mb']:.1f} MB (at fork {row['horse_rss_at_fork_mb']:.1f}"
            f" MB), target < {row['target_mb']} MB: {verdict}"
        )
    print(f"  {figures['load_after']}")


if __name__ == "__main__":
    sys.exit(main())
