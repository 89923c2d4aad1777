"""A file read into canonical text, reporting progress and checkpointing as
it is read: the same for a job's files and for the members inside them.

Reading runs outside any transaction and calls ``checkpoint()`` every block,
so a cancel is noticed within ~50 ms whatever the file's size.
"""

import io
import os
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from ingest.pipeline import canonical, isolation, readers
from ingest.pipeline.blocks import EXTRACT_READ_BYTES
from jobs.runner import JobContext


class ProgressReader(io.RawIOBase):
    """A file reader that reports how far it has read and checkpoints as it goes.

    Seekable, as the file it reads: readers that look ahead (a table's
    delimiter, a zip's directory) or rewind need it, and a non-seekable
    reader is what once made every PDF fail. The position reported is the
    furthest reached, so a rewind does not move progress backwards.
    """

    def __init__(self, source, on_read: Callable[[int], None]):
        self._source = source
        self._on_read = on_read
        self.count = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=os.SEEK_SET):
        return self._source.seek(offset, whence)

    def tell(self):
        return self._source.tell()

    def readinto(self, buffer):
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self.count = max(self.count, self._source.tell())
        self._on_read(self.count)
        return len(data)


def read_canonical(
    kind: str, local: Path, path: Path, ctx: JobContext, *, info: dict, on_read, on_share=None
) -> canonical.CanonicalText:
    """The file's text, extracted and canonicalized into ``path``. A kind whose
    reader holds the document in memory is read by a child process with its
    memory bounded (``ingest.pipeline.isolation``)."""
    read = (_reader() if kind in isolation.ISOLATED_KINDS else None) or _read
    written = read(
        kind, local, path, info=info, on_read=on_read, on_share=on_share, checkpoint=ctx.checkpoint
    )
    if not written.length:
        raise readers.ExtractionError("no text could be extracted from it; the file is empty.")
    return written


def _read(
    kind, local, path, *, info, on_read, on_share, checkpoint=None
) -> canonical.CanonicalText:
    # In the reading child, checkpoint is None: the horse checkpoints while it waits.
    with local.open("rb") as raw:
        reader = io.BufferedReader(ProgressReader(raw, on_read), EXTRACT_READ_BYTES)
        fragments = readers.extract(
            kind,
            reader,
            checkpoint=checkpoint or _no_checkpoint,
            info=info,
            path=local,
            progress=on_share,
        )
        return canonical.canonicalize(fragments, path)


def _no_checkpoint(force: bool = False) -> None:
    pass


_readers: dict[tuple[int, int], isolation.Reader] = {}


def _reader() -> isolation.Reader | None:
    """This process's reading child for the current limit; None when unbounded."""
    limit = settings.INGEST_READ_MEMORY_MB
    if not limit or not isolation.available():
        return None
    key = (os.getpid(), limit)  # a forked horse makes its own
    if key not in _readers:
        _readers[key] = isolation.Reader(_read, limit)
    return _readers[key]
