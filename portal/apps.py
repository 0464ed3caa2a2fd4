"""The portal itself, as an app: what both apps share, and its system checks."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from . import audit_syslog, branding, checks, worker  # noqa: F401  (checks and signals register)

        worker.register(audit_syslog.ship, "audit_syslog", order=90)  # last: this round's events too
