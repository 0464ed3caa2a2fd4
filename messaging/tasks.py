"""Messaging's background work, run by `manage.py worker` (portal.worker): held mail from the spool, the
malware scan of what waited, expiries into the audit trail; and the spool's queue, watched."""

from portal import worker
from portal.metrics import watch_queue

from . import actions, holding, intake, spool
from .models import SpooledMail

worker.register(lambda: spool.hold_due(intake.hold_mail), "spool", order=10)
worker.register(holding.scan_waiting, "scanning", order=20)
worker.register(actions.record_expiries, "expiries", order=30)
watch_queue(
    "spooledmail",
    lambda: SpooledMail.objects.filter(failed_at__isnull=True),
    lambda: SpooledMail.objects.filter(failed_at__isnull=False),
)
