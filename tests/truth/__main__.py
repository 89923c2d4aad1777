"""python -m tests.truth DIR: make the documents of known text into DIR."""

import sys
from pathlib import Path

from tests.truth import make

if __name__ == "__main__":
    make(Path(sys.argv[1]))
