"""What the OpenAPI schema says about errors: one reusable error component and,
per endpoint, every status it can answer.

The schema is what clients and the schemathesis run in CI hold the API to, so
a status the code can answer and the schema does not list is a defect.
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from ingest.pipeline import readers


class ErrorOutput(serializers.Serializer):
    """Every error: a sentence a person can act on, and a code for programs."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        required=False,
        child=serializers.JSONField(),
        help_text="400 only: DRF's messages per field.",
    )


WHY = {
    400: "The request is malformed: the detail names the first field at fault.",
    403: "Not signed in (no session or token), or the role may not do this.",
    404: "No such item here, or you are not a member of the project.",
    409: "The item's state or the project's rules refuse the change.",
    412: "`If-Match` does not match the job's current `ETag`.",
    413: "A file, or the files together, are over the size limits.",
    415: "A file's kind is not supported, or the body's content type is not accepted.",
    422: "The Idempotency-Key was used before with other files or parameters.",
    429: "Too many requests: retry after the seconds `Retry-After` says.",
    503: "The upload storage (the bucket) does not answer: try again once it does.",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error responses for ``statuses``, plus 403 (every endpoint needs a
    signed-in user) and 429 once throttling is configured."""
    wanted = {403, *statuses}
    if settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_CLASSES"):
        wanted.add(429)
    return {
        status: OpenApiResponse(ErrorOutput, description=WHY[status]) for status in sorted(wanted)
    }


def etag(*statuses: int) -> OpenApiParameter:
    """The ``ETag`` response header on the job answers with ``statuses``."""
    return OpenApiParameter(
        "ETag",
        str,
        OpenApiParameter.HEADER,
        response=list(statuses),
        description='the job\'s version, `W/"<version>"`, for `If-Match`',
    )


LOCATION = OpenApiParameter(
    "Location", str, OpenApiParameter.HEADER, response=[201], description="the new job's URL"
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description="only if the job's ETag is one of these (`*` for any); 412 otherwise",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "maxLength": 255},  # longer keys are refused (400), never cut
    OpenApiParameter.HEADER,
    description=(
        "repeat the request with the same key (at most 255 characters) and the same "
        "files and parameters to get the first job back (200) instead of a second one"
    ),
)
FILE_KINDS = (
    f"One or more files: {readers.SUPPORTED}, judged by content first and name second. "
    "Each must be non-empty."
)


def closed_request_bodies(result, generator, request, public):
    """drf-spectacular's postprocessing hook: every request body here is an
    ``Input`` serializer, which refuses keys it does not name, so its schema
    says so (``additionalProperties: false``) and a client can rely on it."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
