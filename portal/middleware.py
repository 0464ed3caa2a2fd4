"""Cross-cutting middleware of the portal."""

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    """Pages of the portal hold personal data: shared caches and the back button keep no copy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response


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
