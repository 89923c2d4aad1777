"""What reading a PDF or Office file in a child process of its own costs.

    .venv/bin/python -m bench.isolation [--rounds 40]

``ingest.pipeline.reading.read_canonical`` reads these kinds in a forked
child with its memory bounded (``INGEST_READ_MEMORY_MB``). This reads the
same real files in process (the setting at 0, the baseline) and isolated
(the default), alternating in the same run, and reports each file's median
time both ways and the difference: what reading through the child adds per
file (its fork is paid once, by the first file a work horse reads).
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from bench import common

CORPUS = common.ROOT / "tests" / "corpus"
FILES = [
    CORPUS / "pdf" / "minimal-document.pdf",
    CORPUS / "pdf" / "pdflatex-4-pages.pdf",
    CORPUS / "office" / "report.docx",
    CORPUS / "office" / "talk.pptx",
    CORPUS / "office" / "budget.xlsx",
]


def time_read(path: Path, kind: str, folder: Path) -> float:
    from ingest.pipeline.reading import read_canonical

    context = SimpleNamespace(checkpoint=lambda force=False: None)
    started = time.perf_counter()
    read_canonical(
        kind, path, folder / "canonical.txt", context, info={}, on_read=lambda count: None
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    bench = common.setup("isolation")
    try:
        from django.conf import settings

        default = settings.INGEST_READ_MEMORY_MB
        rows = {}
        with tempfile.TemporaryDirectory() as folder:
            for path in FILES:
                kind = path.suffix.lstrip(".")
                times = {"in process": [], "isolated": []}
                for _ in range(args.rounds):
                    for label, limit in (("in process", 0), ("isolated", default)):
                        settings.INGEST_READ_MEMORY_MB = limit
                        times[label].append(time_read(path, kind, Path(folder)))
                settings.INGEST_READ_MEMORY_MB = default
                rows[path.name] = {label: statistics.median(t) * 1000 for label, t in times.items()}
        print(f"\n{'file':28} {'in process ms':>14} {'isolated ms':>12} {'more ms':>8}")
        for name, row in rows.items():
            extra = row["isolated"] - row["in process"]
            print(f"{name:28} {row['in process']:14.2f} {row['isolated']:12.2f} {extra:8.2f}")
        print("results:", common.write_results("isolation", rows))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
