"""One error shape for the whole API: ``{"detail": "...", "code": "..."}``.

Field errors keep DRF's per-field messages under ``errors`` as well, and the
detail is their first message, so a client can always show ``detail``.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import TooManyFilesSent
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from ingest import selectors, services
from ingest.services.errors import over_file_count


class Refused(exceptions.APIException):
    """A refusal from the shared table (``services.refusal_for``) as DRF answers it."""

    def __init__(self, refusal: services.Refusal):
        super().__init__(refusal.detail, code=refusal.code)
        self.status_code = refusal.status


def translate(exc):
    """Domain exceptions to their HTTP meaning, as the shared table gives it."""
    if isinstance(exc, Http404):
        exc = selectors.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    refusal = services.refusal_for(exc)
    if refusal is None:
        return exc
    if refusal.field:
        # The API names the field itself: DRF's per-field shape.
        return exceptions.ValidationError({refusal.field: [refusal.detail]})
    return Refused(refusal)


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


def _api_json(request, status_code: int, detail: str, code: str) -> JsonResponse | None:
    """The API's error shape for requests under /api/; None for the site's pages."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": detail, "code": code}, status=status_code)
    return None


def not_found_view(request, exception=None):
    """404 for URLs that do not resolve (e.g. a malformed id): JSON under /api/."""
    detail = services.NOT_FOUND
    return _api_json(request, 404, detail, "not_found") or defaults.page_not_found(
        request, exception
    )


def bad_request_view(request, exception=None):
    """400 raised before a view runs (an upload over Django's own limits): JSON under /api/."""
    detail = "the request could not be read: it is malformed or too large."
    if isinstance(exception, TooManyFilesSent):  # parts the upload handler never saw
        detail = over_file_count().message
    return _api_json(request, 400, detail, "invalid") or defaults.bad_request(request, exception)


def server_error_view(request):
    detail = "the server failed on this request; try again later."
    return _api_json(request, 500, detail, "error") or defaults.server_error(request)
