"""One error shape for the whole API: ``{"detail": "...", "code": "..."}``.

Field errors keep DRF's per-field messages under ``errors`` as well, and the
detail is their first message, so a client can always show ``detail``.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from ingest import selectors, services
from jobs.lifecycle import InvalidTransition, VersionMismatch


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "the job changed since you read it (If-Match does not match its ETag)."
    default_code = "precondition_failed"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


UPLOAD_ERRORS = {
    "invalid": exceptions.ValidationError,
    "too_large": PayloadTooLarge,
    "unsupported_type": exceptions.UnsupportedMediaType,
}


def translate(exc):
    """Domain exceptions to their HTTP meaning."""
    if isinstance(exc, selectors.NotFound | Http404):
        return exceptions.NotFound("not found: no such item here, or you are not a member.")
    if isinstance(exc, services.IdempotencyConflict):
        return Conflict(str(exc), code="idempotency_conflict")
    if isinstance(exc, services.LastOwner):
        return Conflict(str(exc), code="last_owner")
    if isinstance(exc, VersionMismatch):
        return PreconditionFailed()
    if isinstance(exc, InvalidTransition):
        return Conflict(exc.message, code="invalid_state")
    if isinstance(exc, services.PermissionRefused | DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, services.UploadRejected):
        if exc.code == "invalid":
            return exceptions.ValidationError({exc.field: [exc.message]})
        if exc.code == "unsupported_type":
            return exceptions.UnsupportedMediaType("", detail=exc.message)
        return PayloadTooLarge(exc.message)
    return exc


def exception_handler(exc, context):
    exc = translate(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError) and not (
        isinstance(data, dict) and set(data) == {"detail"}
    ):
        response.data = {
            "detail": _first_message(data),
            "code": "invalid",
            "errors": data,
        }
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        response.data = {"detail": _text(data), "code": _text(codes)}
    return response


def _first_message(data) -> str:
    if isinstance(data, dict):
        for key, value in data.items():
            message = _first_message(value)
            return message if key == "non_field_errors" else f"{key}: {message}"
    if isinstance(data, list) and data:
        return _first_message(data[0])
    return str(data)


def _text(value) -> str:
    if isinstance(value, dict):
        return _text(value.get("detail", next(iter(value.values()), "")))
    if isinstance(value, list):
        return _text(value[0]) if value else ""
    return str(value)


def not_found_view(request, exception=None):
    """404 for URLs that do not resolve (e.g. a malformed id): JSON under /api/."""
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "detail": "not found: no such item here, or you are not a member.",
                "code": "not_found",
            },
            status=404,
        )
    return page_not_found(request, exception)


def bad_request_view(request, exception=None):
    """400 raised before a view runs (an upload over Django's own limits): JSON under /api/."""
    from django.views.defaults import bad_request

    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "detail": "the request could not be read: it is malformed or too large.",
                "code": "invalid",
            },
            status=400,
        )
    return bad_request(request, exception)


def server_error_view(request):
    from django.views.defaults import server_error

    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "the server failed on this request; try again later.", "code": "error"},
            status=500,
        )
    return server_error(request)
