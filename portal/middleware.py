"""Cross-cutting middleware of the portal."""

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
