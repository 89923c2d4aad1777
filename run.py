#!/usr/bin/env python3
"""Set up and run the service, or its tests, on a machine with only Python 3.11+.

    python3 run.py          # venv, install, migrate, demo login; web + worker + reaper
    python3 run.py test     # the whole test suite (extra arguments go to pytest)

Uses only the standard library until the virtual environment exists, then
hands over to ``config.launch`` inside it.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("INGEST_VENV", ROOT / ".venv"))
PYTHON = VENV / "bin" / "python"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".requirements.sha256"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 -- say so plainly on an older Python
        major, minor = sys.version_info[:2]
        sys.exit(f"Python 3.11 or newer is needed (this is {major}.{minor}).")
    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("Installing dependencies (first run only) ...", flush=True)
        pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
        STAMP.write_text(wanted)


def main() -> None:
    ensure_environment()
    command = sys.argv[1:] or ["serve"]
    os.chdir(ROOT)
    os.execv(str(PYTHON), [str(PYTHON), "-m", "config.launch", *command])


if __name__ == "__main__":
    main()
