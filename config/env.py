"""Reading the settings from the environment: each helper turns one
variable into a value, with a default, or refuses it with a sentence that
says what it takes."""

import os
import re

from django.core.exceptions import ImproperlyConfigured

# The parts of the web tier that lean on private Django, DRF and psycopg APIs
# (docs/internals.md), which PRIVATE_APIS turns on.
PRIVATE_API_PARTS = ("asgi", "prepared", "writes", "throttle")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


# Longer is the same as never, and dates that far off overflow.
MAX_DAYS = 36_525


def env_days(name: str, default: float) -> float | None:
    """Days as a number (fractions allowed); an empty value means None (off)."""
    value = os.environ.get(name)
    if value is None:
        return default
    if not value.strip():
        return None
    try:
        days = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of days, not {value!r}.") from None
    if not 0 < days <= MAX_DAYS:
        raise ImproperlyConfigured(
            f"{name} must be more than 0 days and at most {MAX_DAYS} (a hundred years); "
            "empty turns it off."
        )
    return days


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_parts(name: str) -> frozenset[str]:
    value = os.environ.get(name, "all").strip().lower()
    if value in ("all", ""):
        return frozenset(PRIVATE_API_PARTS)
    parts = frozenset() if value == "none" else {p.lower() for p in env_list(name, [])}
    unknown = parts - set(PRIVATE_API_PARTS)
    if unknown:
        raise ImproperlyConfigured(
            f"{name} names {', '.join(sorted(unknown))}: it takes all, none, or some of "
            f"{', '.join(PRIVATE_API_PARTS)}."
        )
    return parts


def env_proxy_header(name: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto: https`` -> ``("HTTP_X_FORWARDED_PROTO", "https")``."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    header, _, expected = (part.strip() for part in value.partition(":"))
    if not header or not expected:
        raise ImproperlyConfigured(
            f"{name} must read 'Header-Name: value', e.g. 'X-Forwarded-Proto: https'; "
            f"not {value!r}."
        )
    return "HTTP_" + header.upper().replace("-", "_"), expected


def env_rate(name: str, default: str) -> str | None:
    """A DRF throttle rate such as ``100/minute``; empty turns the limit off."""
    value = os.environ.get(name, default).strip()
    if not value:
        return None
    if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(
            f"{name} must read like 100/minute (per second, minute, hour or day), not {value!r}."
        )
    return value
