"""Cross-cutting middleware of the portal."""

import re
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_cache_control

from .client import client_is_a_trusted_proxy
from .logging import CURRENT_REQUEST_ID

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")


class RequestIdMiddleware:
    """One id a request (the trusted proxy's X-Request-ID, else a new one): in every log line of the request,
    in the answer's X-Request-ID header and on the error page, so the three can be matched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.id = request_id_of(request)
        # Set, not reset after the response: Django logs a 4xx or 5xx ("Not Found: ...") after the
        # middleware has returned, and that line must carry the id too. The next request sets its own.
        CURRENT_REQUEST_ID.set(request.id)
        response = self.get_response(request)
        response["X-Request-ID"] = request.id
        return response


def request_id_of(request):
    """The proxy's id when the connection comes from a trusted proxy and it looks like one; else a new one."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    if given and _REQUEST_ID.fullmatch(given) and client_is_a_trusted_proxy(request):
        return given
    return uuid.uuid4().hex


class NoStoreMiddleware:
    """Pages of the portal hold personal data: shared caches and the back button keep no copy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response


class PortalAccessMiddleware:
    """Rights are checked at every request, not only at login: staff whose portal permission was taken
    away are signed out at their next page. (A deactivated account is already anonymous: Django's
    backend refuses to load it.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not (user.is_external or user.is_portal_staff()):
            logout(request)
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)


class PasswordChangeRequiredMiddleware:
    """A signed-in person who must change their password reaches nothing else until they have."""

    allowed = ("accounts:password_change", "accounts:logout")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.must_change_password:
            paths = {reverse(name) for name in self.allowed}
            if request.path not in paths and not request.path.startswith("/static/"):
                return redirect("accounts:password_change")
        return self.get_response(request)


class RememberLanguageMiddleware:
    """A signed-in person's language: the one they chose on another device, until this browser chooses;
    and whichever they use, remembered on their account, so that their emails are written in it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            chosen_here = settings.LANGUAGE_COOKIE_NAME in request.COOKIES
            if not chosen_here and user.language and user.language != request.LANGUAGE_CODE:
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language
            elif request.LANGUAGE_CODE != user.language:
                get_user_model().objects.filter(pk=user.pk).update(language=request.LANGUAGE_CODE)
                user.language = request.LANGUAGE_CODE
        return self.get_response(request)
