"""How long a file's COPY takes to stop once its job is cancelled mid-way.

The pipeline's own ``store._copy_chunks`` writes chunks of the novel
(``bench/corpus``) in one transaction, through a context whose checkpoint
raises ``JobCancelled`` after ``--batches`` batches; the figure is the time
from that raise until the transaction has rolled back. Each round measures
it twice, alternately: as the code does it (the COPY cancelled at the
server, ``store._stop_copy``), and as psycopg alone would (the baseline: it
sends the COPY's end, which the server reads only after writing and
indexing every row still in flight).

    .venv/bin/python -m bench.copy_abort [--rounds 6] [--batches 5,10,15]
"""

import argparse
import contextlib
import gzip
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from unittest import mock

from bench import common
from bench.novel import NOVEL


@dataclass
class Piece:
    index: int
    text: str
    start: int
    end: int


class StopAfter:
    """A context whose checkpoint raises after ``batches`` calls."""

    def __init__(self, batches: int):
        self.left = batches
        self.raised_at = 0.0

    def checkpoint(self) -> None:
        from jobs.runner import JobCancelled

        self.left -= 1
        if self.left == 0:
            self.raised_at = time.perf_counter()
            raise JobCancelled()


def pieces(size: int = 1000) -> list[Piece]:
    text = gzip.decompress(NOVEL.read_bytes()).decode("utf-8")
    return [
        Piece(i, text[start : start + size], start, start + size)
        for i, start in enumerate(range(0, len(text) - size, size))
    ]


def stop_once(project, chunks: list[Piece], batches: int) -> float:
    """Milliseconds from the cancel until the file's transaction rolled back."""
    from django.db import transaction

    from ingest.models import Document
    from ingest.pipeline import store
    from ingest.search import index
    from jobs.runner import JobCancelled

    ctx = StopAfter(batches)
    with contextlib.suppress(JobCancelled), transaction.atomic():
        document = Document.objects.create(
            project=project,
            title="novel",
            sha256=uuid.uuid4().hex * 2,
            size=1,
            chunk_count=0,
            **index.document_fields("novel"),
        )
        store._copy_chunks(document, chunks, ctx)
    return 1000 * (time.perf_counter() - ctx.raised_at)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batches", default="5,10,15", help="batches written before the cancel")
    args = parser.parse_args(argv)
    bench = common.setup("copy_abort")
    try:
        from ingest.pipeline import store

        print(f"# a COPY stopped by a cancel ({common.load_note()})")
        project = common.new_project(common.bench_user(), "copy abort")
        chunks = pieces()
        figures = {"batch_chunks": store.CHUNK_BATCH, "sizes": {}}
        for batches in map(int, args.batches.split(",")):
            times = {"cancelled": [], "baseline": []}
            for _ in range(args.rounds):
                times["cancelled"].append(stop_once(project, chunks, batches))
                with mock.patch.object(store, "_stop_copy", lambda _connection: None):
                    times["baseline"].append(stop_once(project, chunks, batches))
            figures["sizes"][batches] = {
                side: {"median_ms": round(statistics.median(v), 1), "max_ms": round(max(v), 1)}
                for side, v in times.items()
            }
            row = figures["sizes"][batches]
            print(
                f"  after {batches:3} batches of {store.CHUNK_BATCH} chunks: "
                f"cancelled {row['cancelled']['median_ms']:7.1f} ms (max {row['cancelled']['max_ms']:.1f}), "
                f"left to psycopg {row['baseline']['median_ms']:7.1f} ms (max {row['baseline']['max_ms']:.1f})",
                flush=True,
            )
        figures["load_after"] = common.load_note()
        print(f"  {figures['load_after']}")
        print(f"results: {common.write_results('copy_abort', figures)}")
    finally:
        bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
