"""Input and output serializers, kept apart: input validates, output presents."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ingest import representation, results
from ingest.api.schema import FILE_KINDS
from ingest.api.shapes import output
from ingest.models import Chunk, Membership, Role
from jobs.models import JobStatus

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


# A request body that holds only the fields it names: an unknown key is
# refused (400, naming it) rather than ignored, as the schema says
# (additionalProperties: false, ingest.api.schema.closed_request_bodies). A
# comment, not a docstring: the schema would describe every body with it.
class Input(serializers.Serializer):
    IGNORED = frozenset({"csrfmiddlewaretoken"})  # a form's, not a field

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields) - self.IGNORED)
            if unknown:
                known = ", ".join(self.fields) or "nothing"
                raise serializers.ValidationError(
                    {key: [f"not a field of this request, which takes {known}."] for key in unknown}
                )
        return super().to_internal_value(data)


class ProjectInput(Input):
    name = Text(max_length=200)


class MemberInput(Input):
    username = Text(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class NonEmptyFile(serializers.FileField):
    """A file the schema says must not be empty; the service refuses an empty
    one with a message that names it."""


CHUNK_SIZE_RANGE = "chunk_size must be between 50 and 100000 characters."
OVERLAP_RANGE = "chunk_overlap must be between 0 and half of chunk_size."


class JobCreateInput(Input):
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
    # Blank is no filter, as it was with django-filter, which the lists no longer use.
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


class CancelInput(Input):
    reason = Text(max_length=1000, required=False, allow_blank=True, default="")


class CleanupInput(Input):
    documents = Flag(default=False, help_text="also remove the documents only this job produced")


# --- output --------------------------------------------------------------------


# Each of these answers with its shape's dict and declares its schema from the
# same shape (ingest.representation, ingest.api.shapes).

ProjectOutput = output(representation.PROJECT)
CleanupOutput = output(representation.CLEANUP)
EventOutput = output(representation.EVENT)
MemberResultOutput = output(results.MEMBER_RESULT)
DocumentOutput = output(representation.DOCUMENT)
DocumentHitOutput = output(representation.DOCUMENT_HIT)


class JobUrls:
    # A job's url, absolute when there is a request.

    def job_url(self, job) -> str:
        # The list's URL is reversed and made absolute once per page (the
        # context is the page's): per row, it was a large share of a page's
        # time (bench.api_latency). A job's URL is the list's with the id
        # added (test_job_urls).
        project, jobs_url = self.context.get("jobs_url", (None, ""))
        if project != job.project_id:
            path = reverse("api:job-list", kwargs={"project_id": job.project_id})
            request = self.context.get("request")
            jobs_url = request.build_absolute_uri(path) if request else path
            self.context["jobs_url"] = (job.project_id, jobs_url)
        return f"{jobs_url}{job.pk}/"

    def to_representation(self, instance):
        return self.shape(instance, url=self.job_url(instance))


class JobOutput(JobUrls, output(representation.JOB)):
    """A job with its per-file result."""


class JobSummaryOutput(JobUrls, output(representation.JOB_SUMMARY)):
    """The list's rows: no per-file result and no retries (each costs a query per job)."""


class MemberOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class ChunkOutput(serializers.ModelSerializer):
    class Meta:
        model = Chunk
        fields = ["index", "text", "start", "end"]
