"""What the services refuse with; ``ingest.api.errors`` maps them to HTTP."""


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
