"""What the services refuse with; ``ingest.api.errors`` maps them to HTTP.

The sentences every interface (the API, the agents' tools) answers with for
refusals that are not a service's own exception text.
"""

NOT_FOUND = "not found: no such item here, or you are not a member."
VIEWERS_READ_ONLY = "viewers can read this project but not change anything in it."


class UploadRejected(Exception):
    """An upload refused as a whole. ``code`` picks the HTTP status."""

    def __init__(self, message: str, *, code: str, field: str = "files"):
        super().__init__(message)
        self.message = message
        self.code = code  # "invalid", "too_large" or "unsupported_type"
        self.field = field


class PermissionRefused(Exception):
    """The user's role does not allow this."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key already names a job this request may not be given."""


class IdempotencyMismatch(Exception):
    """An Idempotency-Key sent again with other files or parameters."""


class LastOwner(Exception):
    """The change would leave a project without an owner."""
