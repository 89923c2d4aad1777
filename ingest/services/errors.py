"""What the services refuse with; ``ingest.services.refusals`` says what each
refusal means to whoever asked (the API, the dashboard, the agents' tools).
"""

from django.conf import settings

NOT_FOUND = "not found: no such item here, or you are not a member."
NOT_A_MEMBER = "No such project here, or you are not a member of it."
VIEWERS_READ_ONLY = "viewers can read this project but not change anything in it."


class InvalidInput(Exception):
    """Input refused as a whole: the files of an upload, chunking values, a
    user's name, a header. ``code`` says why: "invalid", "too_large" or
    "unsupported_type"; ``field`` names the input in the services' own terms.

    A sentence about one field's value is given as its ``rule`` ("must be
    between ..."), so that each interface puts its own name for the field in
    front of it: the API its key, the dashboard the field's label.
    """

    def __init__(self, message: str = "", *, code: str = "invalid", field: str = "files", rule=""):
        self.rule = rule
        self.message = message or f"{field} {rule}"
        super().__init__(self.message)
        self.code = code
        self.field = field

    def sentence(self, label: str = "") -> str:
        """The refusal in words, the field called ``label`` where it names one."""
        return f"{label} {self.rule}" if label and self.rule else self.message


def over_file_limit(name: str) -> InvalidInput:
    """A file refused while it arrives (``ingest.upload_handlers``)."""
    limit = settings.INGEST_MAX_FILE_BYTES
    return InvalidInput(f"{name} is over the limit of {limit} bytes per file.", code="too_large")


def over_file_count() -> InvalidInput:
    """An upload refused while it arrives: it holds more files than a job takes."""
    limit = settings.INGEST_MAX_FILES
    return InvalidInput(f"more than {limit} files sent; a job takes at most {limit}.")


def over_job_limit() -> InvalidInput:
    """An upload refused while it arrives: its files passed the job's limit."""
    limit = settings.INGEST_MAX_TOTAL_BYTES
    return InvalidInput(
        f"the files add up to more than {limit} bytes, the limit for one job.", code="too_large"
    )


class PermissionRefused(Exception):
    """The user's role does not allow this."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key already names a job this request may not be given."""


class IdempotencyMismatch(Exception):
    """An Idempotency-Key sent again with other files or parameters."""


class LastOwner(Exception):
    """The change would leave a project without an owner."""
