"""A file read into canonical text, reporting progress and checkpointing as
it is read: the same for a job's files and for the members inside them.

Reading runs outside any transaction and calls ``checkpoint()`` every block,
so a cancel is noticed within ~50 ms whatever the file's size.
"""

import io
import os
from collections.abc import Callable
from pathlib import Path

from ingest.pipeline import canonical, readers
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
    """The file's text, extracted and canonicalized into ``path``."""
    with local.open("rb") as raw:
        reader = io.BufferedReader(ProgressReader(raw, on_read), EXTRACT_READ_BYTES)
        fragments = readers.extract(
            kind, reader, checkpoint=ctx.checkpoint, info=info, path=local, progress=on_share
        )
        written = canonical.canonicalize(fragments, path)
    if not written.length:
        raise readers.ExtractionError("no text could be extracted from it; the file is empty.")
    return written
