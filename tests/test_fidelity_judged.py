"""The fidelity bench's ground truth: a real file below 0.95 against its
reference counts as reading as the document does only where a recorded
check against the page still holds."""

from bench import fidelity_real
from bench.fidelity_judged import JUDGED, holds


def test_page_words_hold_only_whole_and_in_order():
    text = "Vladimir Karpukhin, Barlas Oğuz and Sewon Min"

    assert holds(text, "Barlas Oğuz and")
    assert not holds(text, "Oğuz Barlas")
    assert not holds("Barlas Oguz ˘ and", "Barlas Oğuz and")
    assert not holds(text, "")


def test_files_below_the_bound_count_where_the_page_judged_them():
    def row(name, score, judged=None):
        return {"file": name, "kind": "pdf", "score": score, "best": score, "judged": judged}

    rows = [
        row("reads", 1.0),
        row("reference wrong", 0.6, {"holds": True}),
        row("no longer holds", 0.7, {"holds": False}),
        row("not looked at", 0.8),
    ]

    reads = fidelity_real._summary(rows)["reads_as_document"]

    assert reads == {"files": 4, "reach_pass": 1, "judged_by_page": 1, "share": 0.5}


def test_every_judgement_names_a_reason_and_words_to_check():
    assert all(
        len(digest) == 64 and entry.reason and entry.page_words for digest, entry in JUDGED.items()
    )
