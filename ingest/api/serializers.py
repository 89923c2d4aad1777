"""Input and output serializers, kept apart: input validates, output presents."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ingest import selectors
from ingest.models import Chunk, Document, IngestJob, Membership, Project, Role
from jobs.models import JobEvent

# --- input ---------------------------------------------------------------------


class ProjectInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class MemberInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class JobCreateInput(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True), allow_empty=True, required=False
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    chunk_size = serializers.IntegerField(required=False)
    chunk_overlap = serializers.IntegerField(required=False)


class CancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class CleanupInput(serializers.Serializer):
    documents = serializers.BooleanField(
        default=False, help_text="also remove the documents only this job produced"
    )


# --- output --------------------------------------------------------------------


class ProjectOutput(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "created_at", "role"]

    def get_role(self, project) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(project.pk)


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


class FileResultOutput(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["done", "duplicate", "failed", "not_reached"])
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
    progress = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = IngestJob
        fields = [
            "id",
            "url",
            "project",
            "name",
            "status",
            "version",
            "chunk_size",
            "chunk_overlap",
            "created_at",
            "started_at",
            "finished_at",
            "cancel_requested_at",
            "delete_requested_at",
            "error",
            "progress",
            "result",
        ]

    def get_url(self, job) -> str:
        path = reverse("api:job-detail", kwargs={"project_id": job.project_id, "pk": job.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_error(self, job) -> str | None:
        return job.error or None

    @extend_schema_field(ProgressOutput)
    def get_progress(self, job) -> dict:
        # A plain dict: building a ProgressOutput per row cost about half of
        # a list page's serialization time.
        return {
            "files_total": job.items_total,
            "files_done": job.items_done,
            "bytes_total": job.bytes_total,
            "bytes_done": job.bytes_done,
            "percent": job.percent,
        }

    def get_result(self, job) -> ResultOutput:
        return selectors.job_result(job=job)


class JobSummaryOutput(JobOutput):
    """The list's rows: no per-file result (it costs a query per job)."""

    class Meta(JobOutput.Meta):
        fields = [f for f in JobOutput.Meta.fields if f != "result"]


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


class EventFrom(serializers.CharField):
    """The state a transition left; null for the creation event."""

    def to_representation(self, value):
        return value or None


class EventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)
    to = serializers.CharField(source="to_status")

    class Meta:
        model = JobEvent
        fields = ["action", "to", "actor", "reason", "at"]

    def get_fields(self):
        # "from" is a Python keyword, so it cannot be a declared attribute.
        fields = super().get_fields()
        fields["from"] = EventFrom(source="from_status", allow_null=True)
        return fields


class DocumentOutput(serializers.ModelSerializer):
    source_job = serializers.UUIDField(source="job_id", allow_null=True)
    source_file = serializers.CharField(source="source_file.name", default=None)

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


class ChunkOutput(serializers.ModelSerializer):
    class Meta:
        model = Chunk
        fields = ["index", "text", "start", "end"]
