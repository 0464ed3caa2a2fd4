"""The portal's own background work, run by `manage.py worker` (portal.worker): every outbox's emails
(portal.mail watches each outbox's queue), and the audit trail shipped to syslog, last, so that this
round's events go too."""

from . import audit_syslog, mail, worker

worker.register(mail.deliver_all, "emails", order=40)
worker.register(audit_syslog.ship, "audit_syslog", order=90)
