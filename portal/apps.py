"""The portal itself, as an app: what both apps share, and its system checks."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from . import branding, checks, tasks  # noqa: F401  (checks, signals and the worker's jobs register)
