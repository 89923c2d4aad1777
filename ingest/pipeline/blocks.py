"""How much the pipeline reads, copies or feeds at a time, in one place.

Most reads are followed by a ``checkpoint()``, so a block's size is also how
long a cancel can wait on the pipeline's own work; the rest is memory. Sizes
in bytes and in characters are named apart: a text stream's ``read(n)``
counts characters, up to four bytes each.
"""

# Bytes an extractor reads from its file at a time. Each read of an upload
# reports progress and checkpoints: a block canonicalizes well within the
# checkpoint's own interval, where a megabyte's made a cancel wait as long
# again (bench.cancel_latency, bench.checkpoint_overhead).
EXTRACT_READ_BYTES = 64 * 1024

# Characters a text extractor takes from a decoded stream, or feeds its
# parser, at a time (plain text, HTML, an EPUB chapter, a message's HTML
# body): one fragment, as short a step between checkpoints as a read.
TEXT_FRAGMENT_CHARS = 64 * 1024

# Characters gathered before a block is canonicalized. Plain text arrives in
# fragments of TEXT_FRAGMENT_CHARS, so a block is one fragment: the time
# between two checkpoints is shorter than it was line by line, not longer.
# Row-sized fragments (CSV, JSON) are gathered up to the same size.
CANONICAL_BLOCK_CHARS = TEXT_FRAGMENT_CHARS

# Characters of the canonical text read at a time while it is cut into
# chunks. No checkpoint follows these reads (the chunk writes checkpoint per
# batch), so the size only trades how often the window's buffer is rebuilt
# against how much it holds: a quarter of a million characters is hundreds
# of chunks of the usual size, and more than the largest chunk allowed.
CHUNK_READ_CHARS = 256 * 1024

# Bytes copied at a time when a zip member is unpacked, as uploads are
# copied out of storage: copying, even inflating, a megabyte takes a few
# milliseconds, and larger blocks would only hold more memory.
COPY_BYTES = 1024 * 1024

# Bytes checked at a time for invalid UTF-8 before a text is read: the
# decoder runs in C at hundreds of megabytes a second, so a megabyte stays
# within a checkpoint's budget while the scan makes few Python calls.
UTF8_SCAN_BYTES = 1024 * 1024
