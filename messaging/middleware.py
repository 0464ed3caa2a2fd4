"""A message whose key-encryption key this process does not hold is a clear 503, never a 500."""

import logging

from django.shortcuts import render

from .crypto import UnknownKey

log = logging.getLogger("portal.messaging")


class UnknownKeyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, UnknownKey):
            return None
        log.error(
            "event=unknown_kek key=%s hint=%s", exception.kek_id,
            "add the key to PORTAL_KEKS_FILE (or PORTAL_KEKS and restart) on every node",
        )  # fmt: skip
        response = render(request, "messaging/key_unavailable.html", status=503)
        response["Retry-After"] = "60"
        return response
