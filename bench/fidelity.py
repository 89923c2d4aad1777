"""Fidelity: does the stored text read as the document does?

Two measures, in one run:

- Known truth: the documents of ``tests/truth`` (Chromium print-to-PDF of
  multi-column pages, running headers, tables, figures, turned pages and
  right-to-left scripts; LibreOffice from Word files with columns, a text
  box and footnotes; forms filled in by pypdf), each read by this product
  (what a job stores: ``readers.extract`` then ``canonical``), by poppler's
  ``pdftotext``, by pdfminer.six and by pypdf. The table gives each
  category's median word-order similarity to the truth (tests/wordorder.py).
  Targets: our median over all documents at least 0.98, and in every
  category at least each peer's median.
- Real files (``--real DIR``, any number): every file under the
  directories, e-mail attachments included, against an independent
  extractor (``bench/fidelity_real.py`` says which for each kind). Target:
  at least 95% of them reach 0.95, and no stored text holds U+FFFE, U+FFFD
  or markup.

    .venv/bin/python -m bench.fidelity [--real DIR ...] [--verbose] [--smoke]

Needs poppler-utils, pandoc, jq, chromium and LibreOffice (``soffice``).
"""

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import common
from tests.wordorder import similarity

PEERS = ("pdftotext", "pdfminer", "pypdf")
TARGET_MEDIAN = 0.98


def ours(path: Path, kind: str = "pdf") -> str:
    """The text a job stores for ``path``: extracted, then canonical."""
    from ingest.pipeline import canonical, readers

    with path.open("rb") as raw, tempfile.TemporaryDirectory() as work:
        reader = io.BufferedReader(raw, 64 * 1024)
        fragments = readers.extract(kind, reader, checkpoint=lambda: None, info={}, path=path)
        written = canonical.canonicalize(fragments, Path(work) / "canonical.txt")
        return written.path.read_text(encoding="utf-8")


def pdftotext(path: Path) -> str:
    run = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, timeout=600
    )
    return run.stdout


def pdfminer(path: Path) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(str(path))


def pypdf(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


READERS = {"ours": ours, "pdftotext": pdftotext, "pdfminer": pdfminer, "pypdf": pypdf}


def known_truth(*, smoke: bool, verbose: bool) -> dict:
    from tests.truth import corpus

    documents = corpus()
    if smoke:
        documents = documents[:: max(len(documents) // 3, 1)]
    rows = []
    for document in documents:
        scores = {}
        for name, read in READERS.items():
            try:
                scores[name] = round(similarity(read(document.path), document.truth), 4)
            except Exception as exc:  # a peer failing on a file scores 0, and says why
                print(f"  {name} failed on {document.name}: {exc!r}", file=sys.stderr)
                scores[name] = 0.0
        rows.append({"document": document.name, "category": document.category, **scores})
        if verbose:
            print(f"  {document.category:10} {document.name:22} " + _cells(scores))
    return summarise_truth(rows)


def summarise_truth(rows: list[dict]) -> dict:
    categories = sorted({row["category"] for row in rows})
    table = {}
    for category in [*categories, "all"]:
        members = [row for row in rows if category in ("all", row["category"])]
        table[category] = {
            "documents": len(members),
            **{name: round(statistics.median(r[name] for r in members), 4) for name in READERS},
        }
    table["lowest"] = {
        "documents": len(rows),
        **{name: min(row[name] for row in rows) for name in READERS},
    }
    behind = [
        f"{category}: {peer}"
        for category, medians in table.items()
        for peer in PEERS
        if category != "lowest" and medians["ours"] < medians[peer]
    ]
    return {
        "documents": rows,
        "categories": table,
        "median_target": TARGET_MEDIAN,
        "median_met": table["all"]["ours"] >= TARGET_MEDIAN,
        "behind_a_peer": behind,
    }


def _cells(scores: dict) -> str:
    return " ".join(f"{scores[name]:>9.3f}" for name in READERS)


def report_truth(figures: dict) -> None:
    print(f"  {'category':10} {'docs':>4} " + " ".join(f"{name:>9}" for name in READERS))
    print("  (medians; 'lowest' is the worst document's similarity)")
    for category, medians in figures["categories"].items():
        print(f"  {category:10} {medians['documents']:>4} " + _cells(medians))
    verdict = "met" if figures["median_met"] else "NOT met"
    print(f"  our median {figures['categories']['all']['ours']:.3f} (target >= 0.98: {verdict})")
    behind = figures["behind_a_peer"]
    print("  behind a peer in: " + (", ".join(behind) if behind else "no category"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real", nargs="*", default=[], type=Path, help="directories of real files"
    )
    parser.add_argument("--verbose", action="store_true", help="a line per document")
    parser.add_argument("--smoke", action="store_true", help="a few documents, no real files")
    args = parser.parse_args(argv)

    print(f"# fidelity ({common.load_note()})")
    print("## documents of known text: median word-order similarity to the truth")
    figures = {"truth": known_truth(smoke=args.smoke, verbose=args.verbose)}
    report_truth(figures["truth"])
    if args.real and not args.smoke:
        from bench import fidelity_real

        print("## real files: word-order similarity to an independent extractor")
        figures["real"] = fidelity_real.measure(args.real, ours=ours, verbose=args.verbose)
        fidelity_real.report(figures["real"])
    print(f"results: {common.write_results('fidelity', figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
