"""Input and output serializers, kept apart: input validates, output presents."""

import functools

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ingest import representation
from ingest.api.schema import FILE_KINDS
from ingest.models import Chunk, Document, IngestJob, Membership, Project, Role
from jobs.models import JobEvent, JobStatus

# --- input ---------------------------------------------------------------------


class Text(serializers.CharField):
    """A string, and only a string: DRF's CharField would take ``{"name": 0}``
    as ``"0"``, a body the schema says is invalid."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Flag(serializers.BooleanField):
    """true or false, and nothing DRF would also read as one (``0``, ``"yes"``,
    ``"on"``): the schema says boolean. A form or a query string sends the
    word, which is taken in lower case or capitalized (as Django's test client
    and Python's ``str(True)`` write it)."""

    WORDS = {"true": True, "false": False, "True": True, "False": False}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, str) and data in self.WORDS:
            return self.WORDS[data]
        self.fail("invalid", input=data)


class ProjectInput(serializers.Serializer):
    name = Text(max_length=200)


class MemberInput(serializers.Serializer):
    username = Text(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class NonEmptyFile(serializers.FileField):
    """A file the schema says must not be empty; the service refuses an empty
    one with a message that names it."""


CHUNK_SIZE_RANGE = "chunk_size must be between 50 and 100000 characters."
OVERLAP_RANGE = "chunk_overlap must be between 0 and half of chunk_size."


class JobCreateInput(serializers.Serializer):
    # The limits are stated here so that the schema states them; the service
    # checks them again (and what no schema can say: content, sizes, overlap
    # against chunk_size) for its other callers.
    files = serializers.ListField(
        child=NonEmptyFile(allow_empty_file=True),
        min_length=1,
        max_length=settings.INGEST_MAX_FILES,
        help_text=FILE_KINDS,
        error_messages={"required": "attach one or more files in the 'files' field."},
    )
    name = Text(max_length=200, required=False, allow_blank=True)
    chunk_size = serializers.IntegerField(
        required=False,
        min_value=50,
        max_value=100_000,
        help_text="characters per chunk; the server's default when absent",
        error_messages={"min_value": CHUNK_SIZE_RANGE, "max_value": CHUNK_SIZE_RANGE},
    )
    chunk_overlap = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=50_000,
        help_text="characters shared by neighbouring chunks; at most half of chunk_size",
        error_messages={"min_value": OVERLAP_RANGE, "max_value": OVERLAP_RANGE},
    )


class JobListQuery(serializers.Serializer):
    # Blank is no filter, as it was with django-filter.
    status = serializers.ChoiceField(
        choices=JobStatus.choices,
        required=False,
        allow_blank=True,
        help_text="only the jobs in this status",
    )


class DeleteQuery(serializers.Serializer):
    force = Flag(
        default=False, help_text="cancel an active job first, then delete it once cancelled"
    )


class CancelInput(serializers.Serializer):
    reason = Text(max_length=1000, required=False, allow_blank=True, default="")


class CleanupInput(serializers.Serializer):
    documents = Flag(default=False, help_text="also remove the documents only this job produced")


# --- output --------------------------------------------------------------------


class ProjectOutput(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "created_at", "role"]

    def get_role(self, project) -> str | None:
        return getattr(project, "role", None)  # annotated by selectors.project_list

    def to_representation(self, instance):
        return representation.project(instance, role=self.get_role(instance))


class MemberOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class ProgressOutput(serializers.Serializer):
    files_total = serializers.IntegerField(source="items_total")
    files_done = serializers.IntegerField(source="items_done")
    bytes_total = serializers.IntegerField()
    bytes_done = serializers.IntegerField()
    percent = serializers.IntegerField()


# Named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]: a job's status and a
# file's result are both called "status", and each needs a name of its own.
FILE_RESULT_STATUSES = ["done", "duplicate", "failed", "not_reached"]


class FileResultOutput(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    status = serializers.ChoiceField(choices=FILE_RESULT_STATUSES)
    document = serializers.UUIDField(allow_null=True)
    chunks = serializers.IntegerField()
    error = serializers.CharField(allow_null=True)
    kind = serializers.CharField(help_text="the kind the file was read as: txt, pdf, docx, zip...")
    encoding = serializers.CharField(
        allow_null=True, help_text="the encoding a text was found in (Python's codec name)"
    )
    pages = serializers.IntegerField(allow_null=True, help_text="a PDF's page count")
    members = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="a zip's members or a message's attachments, each with its own result",
    )


class ResultOutput(serializers.Serializer):
    partial = serializers.BooleanField()
    documents_created = serializers.IntegerField()
    files = FileResultOutput(many=True)


class JobOutput(serializers.ModelSerializer):
    """The fields declare the schema; the values come from ``ingest.representation``,
    which the agents' tools answer with too."""

    progress = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    purge_at = serializers.DateTimeField(
        allow_null=True,
        read_only=True,
        help_text="when a deleted job is purged for good (null unless deleted, or with no purge)",
    )
    status_note = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text="what the status means for the job now, in words (null when nothing needs saying)",
    )
    retry_of = serializers.UUIDField(source="retry_of_id", read_only=True, allow_null=True)
    retries = serializers.ListField(
        child=serializers.UUIDField(), read_only=True, help_text="the jobs retrying this one"
    )

    class Meta:
        model = IngestJob
        fields = [
            "id",
            "url",
            "project",
            "name",
            "status",
            "status_note",
            "retry_of",
            "retries",
            "version",
            "chunk_size",
            "chunk_overlap",
            "created_at",
            "started_at",
            "finished_at",
            "cancel_requested_at",
            "delete_requested_at",
            "purge_at",
            "error",
            "progress",
            "result",
        ]

    def get_url(self, job) -> str:
        # The list's URL is reversed and made absolute once per page (the
        # context is the page's): per row, it cost a fifth of a page's time.
        # A job's URL is the list's with the id added (test_job_urls).
        project, jobs_url = self.context.get("jobs_url", (None, ""))
        if project != job.project_id:
            path = reverse("api:job-list", kwargs={"project_id": job.project_id})
            request = self.context.get("request")
            jobs_url = request.build_absolute_uri(path) if request else path
            self.context["jobs_url"] = (job.project_id, jobs_url)
        return f"{jobs_url}{job.pk}/"

    def get_error(self, job) -> str | None:
        return job.error or None

    @extend_schema_field(ProgressOutput)
    def get_progress(self, job) -> dict:
        # A plain dict: building a ProgressOutput per row cost about half of
        # a list page's serialization time.
        return representation.job_progress(job)

    def get_result(self, job) -> ResultOutput:
        return job.build_result()

    @functools.cached_property
    def with_result(self) -> bool:
        # Read once per serializer, not for each row of a list.
        return "result" in self.Meta.fields

    def to_representation(self, instance):
        return representation.job(
            instance, url=self.get_url(instance), with_result=self.with_result
        )


class JobSummaryOutput(JobOutput):
    """The list's rows: no per-file result and no retries (each costs a query per job)."""

    class Meta(JobOutput.Meta):
        fields = [f for f in JobOutput.Meta.fields if f not in ("result", "retries")]


class CleanupOutput(serializers.Serializer):
    """Counts of what was really removed; a second cleanup reports zeros."""

    files_removed = serializers.IntegerField()
    bytes_freed = serializers.IntegerField()
    work_dirs_removed = serializers.IntegerField()
    rq_entries_removed = serializers.IntegerField()
    documents_removed = serializers.IntegerField()
    chunks_removed = serializers.IntegerField()
    removed_anything = serializers.BooleanField()
    detail = serializers.CharField()

    def to_representation(self, instance):
        return representation.cleanup(instance)


class EventFrom(serializers.CharField):
    """Text that reads as null when empty: the state a transition left (none for
    the creation event), a document's source file (none for an old document)."""

    def to_representation(self, value):
        return value or None


class EventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)
    to = serializers.CharField(source="to_status")
    # The reason followed by what the event counted (a cleanup's counts).
    reason = serializers.CharField(source="summary")

    class Meta:
        model = JobEvent
        fields = ["action", "to", "actor", "reason", "at"]

    def get_fields(self):
        # "from" is a Python keyword, so it cannot be a declared attribute.
        fields = super().get_fields()
        fields["from"] = EventFrom(source="from_status", allow_null=True)
        return fields

    def to_representation(self, instance):
        return representation.event(instance)


class DocumentOutput(serializers.ModelSerializer):
    # The plain provenance values: still there once the job was purged.
    source_job = serializers.UUIDField(source="origin_job_id", allow_null=True)
    source_file = EventFrom(source="origin_file_name", allow_null=True)  # "" reads as null

    class Meta:
        model = Document
        fields = [
            "id",
            "title",
            "sha256",
            "size",
            "chunk_count",
            "source_job",
            "source_file",
            "created_at",
        ]

    def to_representation(self, instance):
        return representation.document(instance)


class DocumentHitOutput(DocumentOutput):
    """A document in the list: with a search, its rank and a snippet."""

    rank = serializers.SerializerMethodField()
    snippet = serializers.SerializerMethodField(
        help_text="HTML: the document's best matching passage, its text escaped and "
        "the matched words in <mark>; null without a search"
    )

    class Meta(DocumentOutput.Meta):
        fields = [*DocumentOutput.Meta.fields, "rank", "snippet"]

    def get_rank(self, document) -> float | None:
        return getattr(document, "rank", None)

    def get_snippet(self, document) -> str | None:
        return getattr(document, "snippet", None)

    def to_representation(self, instance):
        return representation.document_hit(instance)


class ChunkOutput(serializers.ModelSerializer):
    class Meta:
        model = Chunk
        fields = ["index", "text", "start", "end"]
