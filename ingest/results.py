"""A job's result, as the API shows it and the runner stores it when the job
ends: its shape declared once (see ``ingest.shapes``), read from the job's
files, the source of truth.

Each file has a state, as a CI run page gives each step one:

- ``waiting``: not started, while the job is queued or running;
- ``reading``: the file the worker is on, with ``bytes_read`` so far;
- ``done``, ``duplicate`` (its text was already in the project), ``failed``;
- ``not_reached``: the job ended (cancelled, failed) before it.

The file being read needs no report of its own from the worker: a job's
files are read in order, so it is the first one not finished, and the job's
``bytes_done`` (written with its progress, at most every 250 ms) counts the
finished files' bytes plus what was read of it.

Its readers call the models' own methods, so this module imports no model:
``ingest.models`` builds a job's result with it (``IngestJob.build_result``),
and ``ingest.representation`` nests it in a job's answer.
"""

from ingest.shapes import BOOLEAN, INTEGER, STRING, UUID, Choice, Field, ListOf, Shape

# A file's state in its job's result. The schema names the enum in
# SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] (a job's status is also "status").
FILE_STATES = ("waiting", "reading", "done", "duplicate", "failed", "not_reached")

# The kinds whose entries list what they held, each with its own result: the
# first MEMBERS_SHOWN of them, and how many there are (all of them, a page at a
# time, at .../jobs/<id>/files/<position>/members/).
CONTAINER_KINDS = frozenset({"zip", "eml"})
MEMBERS_SHOWN = 20

# A member's state: an attachment of a kind that is not read is skipped.
MEMBER_STATES = ("done", "duplicate", "failed", "skipped")

MEMBER_RESULT = Shape(
    "MemberResult",
    {
        "name": Field(STRING, help="its path in the zip, or the attachment's file name"),
        "status": Field(Choice(MEMBER_STATES)),
        "document": Field(UUID, null=True),
        "chunks": Field(INTEGER),
        "error": Field(STRING, lambda member: member.error or None, null=True, reads=("error",)),
        "kind": Field(
            STRING,
            lambda member: member.details.get("kind"),
            null=True,
            help="the kind it was read as",
            reads=("details",),
        ),
        "encoding": Field(
            STRING, lambda member: member.details.get("encoding"), null=True, reads=("details",)
        ),
        "pages": Field(
            INTEGER, lambda member: member.details.get("pages"), null=True, reads=("details",)
        ),
    },
    doc="A file inside a file (a zip's member, a message's attachment) and how it went.",
)

PENDING = "pending"  # ingest.models.FileStatus.PENDING: not finished yet
JOB_ACTIVE = frozenset({"queued", "running", "cancelling"})
JOB_READING = frozenset({"running", "cancelling"})  # a worker is on it


def reading(job) -> tuple[int | None, int]:
    """The position of the file ``job``'s worker is reading (None when none
    is), and how many of its bytes it has read."""
    if job.status not in JOB_READING:
        return None, 0
    files = job.result_files()
    waiting = [f for f in files if f.status == PENDING]
    if not waiting:
        return None, 0
    current = min(waiting, key=lambda f: f.position)
    finished = sum(f.size for f in files if f.status != PENDING)
    return current.position, max(0, min(current.size, job.bytes_done - finished))


def file_state(file) -> str:
    """The file's state now (see the module's docstring)."""
    if file.status != PENDING:
        return file.status
    job = file.job
    if job.status not in JOB_ACTIVE:
        return "not_reached"
    return "reading" if reading(job)[0] == file.position else "waiting"


def bytes_read(file) -> int | None:
    """How much of the file being read has been read; None for any other."""
    if file.status != PENDING or file.job.status not in JOB_READING:
        return None
    position, done = reading(file.job)
    return done if position == file.position else None


def ended_state(file) -> str:
    """The file's state once its job has ended, which is how the runner
    stores a result: finished as it finished, or not reached."""
    return "not_reached" if file.status == PENDING else file.status


FILE_RESULT = Shape(
    "FileResult",
    {
        "position": Field(
            INTEGER,
            help="its place in the job, from 0 (a zip's members: .../files/<position>/members/)",
        ),
        "name": Field(STRING),
        "size": Field(INTEGER),
        "status": Field(
            Choice(FILE_STATES),
            file_state,
            help="waiting, reading (the file being read now), done, duplicate, failed, "
            "or not_reached (the job ended before it)",
            reads=("status",),
        ),
        "bytes_read": Field(
            INTEGER,
            bytes_read,
            null=True,
            help="how much of the file being read has been read so far (null for the others)",
            reads=(),
        ),
        "document": Field(UUID, lambda file: file.own_document_pk(), null=True, reads=()),
        "chunks": Field(INTEGER),
        "error": Field(STRING, lambda file: file.error or None, null=True, reads=("error",)),
        "kind": Field(STRING, help="the kind the file was read as: txt, pdf, docx, zip..."),
        "encoding": Field(
            STRING,
            lambda file: file.details.get("encoding"),
            null=True,
            help="the encoding a text was found in (Python's codec name)",
            reads=("details",),
        ),
        "pages": Field(
            INTEGER,
            lambda file: file.details.get("pages"),
            null=True,
            help="a PDF's page count",
            reads=("details",),
        ),
        "members": Field(
            ListOf(MEMBER_RESULT),
            lambda file: file.members_shown(),
            present=lambda file: file.kind in CONTAINER_KINDS,
            help=f"the first {MEMBERS_SHOWN} of a zip's members or a message's attachments, "
            "each with its own result; all of them at .../files/<position>/members/",
            reads=(),
        ),
        "members_total": Field(
            INTEGER,
            "members_count",
            present=lambda file: file.kind in CONTAINER_KINDS,
            help="how many members or attachments have a result",
        ),
    },
)

RESULT = Shape(
    "Result",
    {
        "partial": Field(BOOLEAN, lambda job: job.result_is_partial(), reads=("status", "result")),
        "documents_created": Field(INTEGER, lambda job: job.documents_created_count(), reads=()),
        "files": Field(ListOf(FILE_RESULT), lambda job: job.result_files(), reads=()),
    },
)


def ended_result(job) -> dict:
    """The result as stored when the job ends (``IngestJob.build_result``):
    the worker calls it just before its last transition, while the job still
    reads as running, so no file is said to be waiting or being read."""
    files = [FILE_RESULT(f, status=ended_state(f), bytes_read=None) for f in job.result_files()]
    return RESULT(job, files=files)
