"""Reading in a child process with its memory bounded: what the child
reports reaches the horse, one child reads file after file, and whatever
ends a child becomes that file's failure, in a sentence, or the horse's
own cancel."""

import os
import signal

import pytest

from ingest.pipeline import isolation
from ingest.pipeline.errors import ExtractionError, UnsupportedType

pytestmark = pytest.mark.skipif(not isolation.available(), reason="needs Linux")


# What the child is asked to do: each request names one of these (by
# reference: requests cross a pipe pickled).


def four_pages(info, on_read, on_share):
    for count in range(1, 1001):
        on_read(count)
    on_share(1.0)
    info["pages"] = 4  # what a reader finds out, as the PDF reader does
    return os.getpid()


def whose_pid(info, on_read, on_share):
    return os.getpid()


def greedy(info, on_read, on_share):
    hoard = []
    while True:
        hoard.append(bytearray(16 * 1024 * 1024))


def crash(info, on_read, on_share):
    os.kill(os.getpid(), signal.SIGABRT)  # what PDFium does when an allocation fails


def refuse_extraction(info, on_read, on_share):
    raise ExtractionError("the file says no.")


def refuse_unsupported(info, on_read, on_share):
    raise UnsupportedType("the file says no.")


def forever(info, on_read, on_share):
    while True:
        on_read(1)


def run(what, *, info, on_read, on_share):
    return what(info, on_read, on_share)


@pytest.fixture
def reader():
    made = []

    def make(limit_mb=100):
        made.append(isolation.Reader(run, limit_mb))
        return made[-1]

    yield make
    for each in made:
        each.stop()


def ask(reader, what, *, checkpoint=lambda: None, info=None):
    seen = {"read": [], "share": []}
    info = {} if info is None else info
    result = reader(
        what,
        info=info,
        on_read=seen["read"].append,
        on_share=seen["share"].append,
        checkpoint=checkpoint,
    )
    return result, info, seen


def test_the_result_the_info_and_the_last_progress_reach_the_horse(reader):
    result, info, seen = ask(reader(), four_pages, info={"kind": "pdf"})

    assert result != os.getpid()  # read in another process
    assert info == {"kind": "pdf", "pages": 4}
    assert seen["read"][-1] == 1000 and seen["share"] == [1.0]
    assert seen["read"] == sorted(seen["read"])


def test_one_child_reads_file_after_file(reader):
    one = reader()
    assert len({ask(one, whose_pid)[0] for _ in range(5)}) == 1


def test_a_reader_past_the_bound_fails_the_file_then_a_new_child_reads_on(reader):
    bounded = reader(limit_mb=64)
    with pytest.raises(
        ExtractionError, match=r"more than 64 MB of memory \(INGEST_READ_MEMORY_MB\)"
    ):
        ask(bounded, greedy)
    assert ask(bounded, whose_pid)[0] != os.getpid()


def test_a_reader_that_kills_its_process_fails_the_file_naming_the_signal(reader):
    crashing = reader()
    with pytest.raises(ExtractionError, match=r"stopped the reader \(SIGABRT\)"):
        ask(crashing, crash)
    assert ask(crashing, whose_pid)[0] != os.getpid()


@pytest.mark.parametrize(
    ("what", "refusal"),
    [(refuse_extraction, ExtractionError), (refuse_unsupported, UnsupportedType)],
)
def test_a_readers_own_refusal_keeps_its_kind_and_words(reader, what, refusal):
    with pytest.raises(refusal, match=r"the file says no\."):
        ask(reader(), what)


def test_a_cancel_seen_by_the_horse_stops_the_child(reader):
    class Cancelled(Exception):
        pass

    calls = []

    def checkpoint():
        calls.append(1)
        if len(calls) > 3:
            raise Cancelled

    cancelled = reader()
    child = ask(cancelled, whose_pid)[0]
    with pytest.raises(Cancelled):
        ask(cancelled, forever, checkpoint=checkpoint)
    assert not cancelled.alive()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # stopped and reaped: nothing left behind
