"""The versions of Django, DRF and psycopg whose private parts the web tier's
fast paths are tested against (docs/internals.md).

A start with ``PRIVATE_APIS`` on refuses, with a sentence, on any other minor
version: an upgrade may have changed what they rely on, and
``tests/test_internals.py`` tells what. Stock Django (``PRIVATE_APIS=none``)
starts on any version.
"""

from importlib.metadata import version

from django.core.exceptions import ImproperlyConfigured

# distribution -> the minor version tested (major, minor)
TESTED = {"Django": (5, 2), "djangorestframework": (3, 18), "psycopg": (3, 3)}


def minor(distribution: str) -> tuple[int, int]:
    major, minor_, *_ = version(distribution).split(".")
    return int(major), int(minor_)


def untested() -> dict[str, str]:
    """The distributions installed at a minor version not tested, with it."""
    return {name: version(name) for name, tested in TESTED.items() if minor(name) != tested}


def check(parts) -> None:
    """Refuse to start with the private-API ``parts`` on untested versions."""
    found = untested() if parts else {}
    if found:
        installed = ", ".join(f"{name} {number}" for name, number in found.items())
        tested = ", ".join(f"{name} {'.'.join(map(str, v))}" for name, v in TESTED.items())
        raise ImproperlyConfigured(
            f"This start uses private parts of Django, DRF and psycopg that are tested with "
            f"{tested}, but {installed} is installed. Run the tests (tests/test_internals.py "
            "names what changed), or start on stock Django with PRIVATE_APIS=none."
        )
