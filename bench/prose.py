"""Deterministic English-like prose for the benchmarks' text uploads:
sentences of a Zipf-weighted vocabulary, hard-wrapped paragraphs."""

import itertools
import random
from pathlib import Path

MB = 1024 * 1024

WORDS = """
the of and to in a is that for it as was with be by on not he i this are or his from at which
but have an they you were her she there been one all we their has would when if so no will can
more other its into some could them time only new these two may first then do any like my now
over such our man me even most made after also did many before must through back years where
much your way well down should because each just those people how too little state good very
make world still own see men work long get here between both life being under never day same
another know while last might us great old year off come since against go came right used take
three himself few house use during without again place around however home small found thought
went say part once general high upon school every does got united left number course war until
always away something fact though water less public put think almost hand enough far took head
yet government system better set told nothing night end why called didn't eyes find going look
asked later knew point next program city business give group toward young days let room president
side social given present several order national possible rather second face per among form
important often things looking early white case john become large big need four within felt
along children saw best church ever least power development light thing seemed family interest
want members mind country area others done turned although open god service certain kind problem
began different door thus help sense means whole matter perhaps itself york times law human line
above name example action company hands local show whether five history gave today either act
feet across taken past quite anything seen having death week experience body word half really
field am car words already themselves information tell together college shall money period held
keep sure probably free seems real behind cannot miss political air question making office brought
whose special heard major problems ago became federal moment study available known result street
economic boy reason change south board individual job society areas west close turn love community
true court force full seem am café naïve façade résumé coöperate déjà-vu señor Zürich Ångström
""".split()  # noqa: SIM905 (a list literal of 300 words would not read)

# Zipf-like weights: the common words dominate, as in real prose.
_CUM_WEIGHTS = list(itertools.accumulate(1.0 / (rank + 1) ** 0.9 for rank in range(len(WORDS))))


def write_text_file(path: Path, *, size_mb: float, seed: int) -> Path:
    """Deterministic English-like prose: sentences, hard-wrapped paragraphs, blank lines."""
    rng = random.Random(seed)
    target = int(size_mb * MB)
    written = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        while written < target:
            block = "".join(_paragraph(rng) for _ in range(200))
            out.write(block)
            written += len(block.encode("utf-8"))
    return path


def _paragraph(rng: random.Random) -> str:
    words: list[str] = []
    for _ in range(rng.randint(2, 9)):
        sentence = rng.choices(WORDS, cum_weights=_CUM_WEIGHTS, k=rng.randint(5, 24))
        sentence[0] = sentence[0].capitalize()
        if len(sentence) > 10 and rng.random() < 0.5:
            sentence[rng.randint(3, len(sentence) - 4)] += ","
        sentence[-1] += rng.choice(".....?!")
        words.extend(sentence)
    width = rng.randint(9, 14)  # words per line, like a hard-wrapped file
    lines = [" ".join(words[i : i + width]) for i in range(0, len(words), width)]
    return "\n".join(lines) + "\n\n"
