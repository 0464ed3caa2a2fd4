"""Messaging: held messages and their delivery."""

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Secure messages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, notify  # noqa: F401  (the system checks and the notifications' outbox)
