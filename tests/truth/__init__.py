"""Documents whose true text is known, made by real tools: Chromium's
print-to-PDF (``chromium``) and LibreOffice from Word files plus filled
forms (``office``). Shared by the tests and ``bench/fidelity.py``.

They are made once and kept in the system's temporary directory under a
name that hashes the code that makes them, so a test session or a bench
run after the first one reuses them. Making them runs in a process of its
own (``python -m tests.truth DIR``): Playwright's synchronous API must not
run inside another event loop, and a test session may hold one.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
INDEX = "truth.json"


@dataclass(frozen=True)
class TruthDocument:
    name: str
    category: str
    path: Path
    truth: str


def corpus() -> list[TruthDocument]:
    """Every document, made now if this version of the makers has not made them yet."""
    directory = _cache_dir()
    if not (directory / INDEX).exists():
        _make_into(directory)
    index = json.loads((directory / INDEX).read_text(encoding="utf-8"))
    return [
        TruthDocument(name, entry["category"], directory / entry["file"], entry["truth"])
        for name, entry in sorted(index.items())
    ]


def _cache_dir() -> Path:
    digest = hashlib.sha256()
    for source in sorted(HERE.glob("*.py")):
        digest.update(source.read_bytes())
    for source in sorted((ROOT / "tests" / "corpus" / "pdf").glob("*form*.pdf")):
        digest.update(source.read_bytes())
    base = Path(os.environ.get("INGEST_TRUTH_DIR") or tempfile.gettempdir())
    return base / f"ingest-truth-{digest.hexdigest()[:16]}"


def _make_into(directory: Path) -> None:
    partial = Path(tempfile.mkdtemp(prefix=directory.name + "-", dir=directory.parent))
    try:
        subprocess.run(
            [sys.executable, "-m", "tests.truth", str(partial)],
            cwd=ROOT,
            check=True,
            timeout=600,
        )
        try:
            partial.rename(directory)  # another session may have made it meanwhile
        except OSError:
            if not (directory / INDEX).exists():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def make(directory: Path) -> None:
    from tests.truth import chromium, office

    made = chromium.print_all(directory, os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    made.update(office.make_all(directory))
    index = {
        name: {"category": category, "file": f"{name}.pdf", "truth": truth}
        for name, (category, truth) in made.items()
    }
    missing = [name for name in index if not (directory / f"{name}.pdf").exists()]
    if missing:
        raise RuntimeError(f"these documents were not made: {missing}")
    (directory / INDEX).write_text(json.dumps(index, ensure_ascii=False, indent=1), "utf-8")
