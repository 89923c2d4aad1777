"""A job's result, as the API shows it and the runner stores it when the job
ends: its shape declared once (see ``ingest.shapes``), read from the job's
files, the source of truth.

Its readers call the models' own methods, so this module imports no model:
``ingest.models`` builds a job's result with it (``IngestJob.build_result``),
and ``ingest.representation`` nests it in a job's answer.
"""

from ingest.shapes import BOOLEAN, INTEGER, STRING, UUID, Choice, Field, ListOf, Shape

# A file's state in its job's result. The schema names the enum in
# SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] (a job's status is also "status").
FILE_STATES = ("done", "duplicate", "failed", "not_reached")

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

FILE_RESULT = Shape(
    "FileResult",
    {
        "position": Field(
            INTEGER,
            help="its place in the job, from 0 (a zip's members: .../files/<position>/members/)",
        ),
        "name": Field(STRING),
        "size": Field(INTEGER),
        "status": Field(Choice(FILE_STATES), lambda file: file.result_status(), reads=("status",)),
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
