"""Errors as RFC 9457 problem details (application/problem+json): type, title, status, detail, and the
field errors. Never a 500 for bad input: DRF's validation answers 400."""

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from messaging import actions as message_actions

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
}


class TooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The attachments are larger than a message may hold."


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."


def problem(status_code, detail, errors=None, headers=None):
    body = {
        "type": f"https://httpstatuses.io/{status_code}",
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": str(detail),
    }
    if errors:
        body["errors"] = errors
    response = Response(body, status=status_code, headers=headers)
    response.content_type = "application/problem+json"
    return response


def handle(exc, context):
    """DRF's handler, its answers reworded as problem details."""
    if isinstance(exc, message_actions.Refused):
        exc = exceptions.PermissionDenied(str(exc))
    if isinstance(exc, RequestDataTooBig):
        exc = TooLarge("The request is larger than the portal reads.")
    elif isinstance(exc, SuspiciousOperation):  # too many fields, a malformed multipart body...
        exc = exceptions.ParseError("The request body cannot be read.")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    errors = None
    if isinstance(exc, exceptions.ValidationError):
        detail, errors = _("The request is not valid: see the errors."), data
    elif isinstance(data, dict) and "detail" in data:
        detail = data["detail"]
    else:
        detail = str(data)
    headers = {k: v for k, v in response.items() if k in {"Retry-After", "WWW-Authenticate", "Allow"}}
    return problem(response.status_code, detail, errors, headers)
