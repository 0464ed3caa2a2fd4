"""Messaging: held messages and their delivery."""

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Secure messages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from portal import health, mail, worker
        from portal.metrics import watch_queue

        from . import actions, checks, holding, intake, metrics, notify, scanning, sealed, spool, storage  # noqa: F401
        from .models import Message, SpooledMail

        health.register("storage", health.storage_check(storage.check))
        health.register("scanner", scanning.check, when=scanning.enabled)
        sealed.register(Message)
        sealed.register(SpooledMail)
        health.register("keys", sealed.readiness_check)
        # The worker's jobs, each in a thread of its own (one that waits delays none of the others).
        worker.register(lambda: spool.hold_due(intake.hold_mail), "spool", order=10)
        worker.register(holding.scan_waiting, "scanning", order=20)
        worker.register(actions.record_expiries, "expiries", order=30)
        worker.register(mail.deliver_all, "emails", order=40)
        watch_queue(
            "spooledmail",
            lambda: SpooledMail.objects.filter(failed_at__isnull=True),
            lambda: SpooledMail.objects.filter(failed_at__isnull=False),
        )
