"""API_RATE requests a minute per key, counted in the shared cache (so across workers and nodes)."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class PerKeyThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self):
        return f"{settings.API_RATE}/min"

    def get_cache_key(self, request, view):
        key = request.auth
        return f"api:rate:{key.pk}" if key is not None else None
