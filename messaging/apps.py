"""Messaging: held messages and their delivery."""

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Secure messages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from portal import health

        from . import checks, metrics, notify, scanning, storage  # noqa: F401  (checks, collectors, the outbox)

        health.register("storage", health.storage_check(storage.check))
        health.register("scanner", scanning.check, when=scanning.enabled)
