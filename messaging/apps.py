"""Messaging: held messages and their delivery."""

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Secure messages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from portal import health

        from . import checks, limits, metrics, notify, scanning, sealed, storage, tasks  # noqa: F401  (they register)
        from .models import Message, SpooledMail

        health.register("storage", health.storage_check(storage.check))
        health.register("scanner", scanning.check, when=scanning.enabled)
        sealed.register(Message)
        sealed.register(SpooledMail)
        health.register("keys", sealed.readiness_check)
