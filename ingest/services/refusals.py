"""One table from the domain's refusals to what they mean to whoever asked:
an HTTP status, a code and a sentence a person can act on.

The API's exception handler, the dashboard and the agents' tools all read it,
so a refusal is worded and classified once. Nothing here knows an HTTP
framework: each interface builds its own answer from a :class:`Refusal`.
"""

from collections.abc import Callable
from dataclasses import dataclass

from ingest import selectors, storage
from ingest.services.errors import (
    NOT_FOUND,
    IdempotencyConflict,
    IdempotencyMismatch,
    InvalidInput,
    LastOwner,
    PermissionRefused,
)
from jobs.lifecycle import InvalidTransition, VersionMismatch

STALE_VERSION = "the job changed since you read it (If-Match does not match its ETag)."


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    detail: str
    field: str = ""  # the input a 400 is about, for answers that place it by its field


def _unavailable(exc: storage.StorageUnavailable) -> str:
    return f"the upload storage is unavailable: {exc.message}"


TABLE: tuple[tuple[type[Exception], int, str, Callable[[Exception], str]], ...] = (
    (selectors.NotFound, 404, "not_found", lambda exc: NOT_FOUND),
    (IdempotencyConflict, 409, "idempotency_conflict", str),
    (IdempotencyMismatch, 422, "idempotency_mismatch", str),
    (LastOwner, 409, "last_owner", str),
    (VersionMismatch, 412, "precondition_failed", lambda exc: STALE_VERSION),
    (storage.StorageUnavailable, 503, "storage_unavailable", _unavailable),
    (InvalidTransition, 409, "invalid_state", lambda exc: exc.message),
    (PermissionRefused, 403, "permission_denied", str),
)

# Refused input by the service's reason: the status and the code it is answered with.
INPUT = {
    "invalid": (400, "invalid"),
    "too_large": (413, "too_large"),
    "unsupported_type": (415, "unsupported_media_type"),
}


def refusal_for(exc: Exception) -> Refusal | None:
    """What ``exc`` means to the caller; None for an exception that is no refusal."""
    if isinstance(exc, InvalidInput):
        status, code = INPUT[exc.code]
        return Refusal(status, code, exc.message, field=exc.field if status == 400 else "")
    for kind, status, code, sentence in TABLE:
        if isinstance(exc, kind):
            return Refusal(status, code, sentence(exc))
    return None
