"""Messaging: held messages and their delivery."""

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Secure messages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from portal import health

        from . import checks, holding, metrics, notify, scanning, sealed, storage  # noqa: F401  (checks, collectors)
        from .models import Message, SpooledMail

        self.module.hold = holding.hold  # messaging.hold(...), the one way a message is created
        health.register("storage", health.storage_check(storage.check))
        health.register("scanner", scanning.check, when=scanning.enabled)
        sealed.register(Message)
        sealed.register(SpooledMail)
        health.register("keys", sealed.readiness_check)
