"""What both apps share and the portal keeps: the organisation's branding and the audit trail."""

from datetime import UTC

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Outbox(models.Model):
    """What every outbox row keeps (an email, spooled mail, a webhook): a worker sends it when it is due
    and, while the other side is down, tries again later."""

    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now, db_index=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)

    class Meta:
        abstract = True


class Branding(models.Model):
    """The organisation's own look: one row, edited in the admin (see portal.branding)."""

    name = models.CharField(
        _("organisation name"), max_length=100, blank=True, help_text=_("Empty: the server's PORTAL_NAME.")
    )
    logo = models.BinaryField(_("logo (PNG, as stored)"), blank=True, editable=False)
    logo_version = models.CharField(_("logo version"), max_length=16, blank=True, editable=False)
    colour = models.CharField(
        _("primary colour"),
        max_length=7,
        default="#0b4f8a",
        help_text=_("As #rrggbb. White text on it must reach the WCAG AA contrast of 4.5:1."),
    )
    footer = models.TextField(
        _("footer and disclaimer"),
        blank=True,
        help_text=_("Shown at the foot of every page and email. Empty: the portal's own words."),
    )
    support_contact = models.CharField(
        _("support contact"),
        max_length=200,
        blank=True,
        help_text=_("Whom staff contact when they cannot log in. Empty: the server's SUPPORT_CONTACT."),
    )
    email_subject = models.CharField(
        _("notification subject"),
        max_length=200,
        blank=True,
        help_text=_("Placeholders: {sender}, {subject}, {expires}. Empty: the portal's own words."),
    )
    email_introduction = models.TextField(
        _("notification introduction"),
        blank=True,
        help_text=_("The first paragraph of the notification. Placeholders: {sender}, {subject}, {expires}."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        db_table = "accounts_branding"  # it was the accounts app's; the table stayed where it was
        verbose_name = _("branding")
        verbose_name_plural = _("branding")

    def __str__(self):
        return str(_("Branding"))

    def save(self, *args, **kwargs):
        self.pk = 1  # there is one look (portal.branding forgets the cached one when it is saved)
        super().save(*args, **kwargs)


class AuditEvent(models.Model):
    """The one trail of who did what to which account and which message, from where.

    Written by the actions (`portal.audit.record`) in the transaction of the change it records; the
    doctor's history, the admin, `manage.py audit_export` and the syslog stream all read it. The
    account columns keep the address as it was, so the trail outlives a deleted account.
    """

    class Event(models.TextChoices):
        LOGIN_SUCCEEDED = "login.succeeded", _("Logged in")
        LOGIN_FAILED = "login.failed", _("Login failed")
        SESSION_ENDED = "session.ended", _("Session ended")
        PASSWORD_CHANGED = "password.changed", _("Password changed")
        PASSWORD_RESET_SENT = "password.reset_sent", _("Temporary password sent")
        TEMPORARY_PASSWORD_ISSUED = "password.temporary_issued", _("Temporary password issued")
        TEMPORARY_PASSWORD_USED = "password.temporary_used", _("Temporary password used")
        TWO_STEP_ENROLLED = "two_step.enrolled", _("Two-step set up")
        TWO_STEP_RESET = "two_step.reset", _("Two-step reset")
        BACKUP_CODES_RENEWED = "backup_codes.renewed", _("Backup codes renewed")
        PASSKEY_ADDED = "passkey.added", _("Passkey added")
        PASSKEY_REMOVED = "passkey.removed", _("Passkey removed")
        PERMISSION_GRANTED = "permission.granted", _("Permission granted")
        PERMISSION_REMOVED = "permission.removed", _("Permission removed")
        GROUP_CHANGED = "group.changed", _("Group changed")
        DIRECTORY_GROUPS_SYNCED = "directory.groups_synced", _("Groups synced from the directory")
        ACCOUNT_CREATED = "account.created", _("Account created")
        ACCOUNT_CHANGED = "account.changed", _("Account changed")
        ACCOUNT_DELETED = "account.deleted", _("Account deleted")
        ACCOUNT_DEACTIVATED = "account.deactivated", _("Account deactivated")
        ACCOUNT_REACTIVATED = "account.reactivated", _("Account reactivated")
        ALIAS_ADDED = "alias.added", _("Alias added")
        ALIAS_REMOVED = "alias.removed", _("Alias removed")
        IDENTITY_LINKED = "identity.linked", _("Linked to a subject at the OpenID provider")
        IDENTITY_FORGOTTEN = "identity.forgotten", _("Link to the OpenID provider forgotten")
        LOCKOUT_LIFTED = "lockout.lifted", _("Lockout lifted")
        MESSAGE_HELD = "message.held", _("Message held")
        MESSAGE_OPENED = "message.opened", _("Message opened")
        MESSAGE_PRINTED = "message.printed", _("Print view opened")
        MESSAGE_READ_BY_ADMINISTRATOR = "message.read_by_administrator", _("Administrator read the content")
        ATTACHMENT_DOWNLOADED = "attachment.downloaded", _("Attachment downloaded")
        MESSAGE_REPLIED = "message.replied", _("Message replied to")
        MESSAGE_RECALLED = "message.recalled", _("Message recalled")
        MESSAGE_EXTENDED = "message.extended", _("Expiry extended")
        MESSAGE_RESENT = "message.resent", _("Notification sent again")
        MESSAGE_MOVED = "message.moved", _("Reader's copy moved")
        MESSAGE_MARKED_UNREAD = "message.marked_unread", _("Reader's copy marked unread")
        MESSAGE_PURGED = "message.purged", _("Message content purged")
        MESSAGE_QUARANTINED = "message.quarantined", _("Message quarantined: malware found")
        UPLOAD_REFUSED = "upload.refused", _("Upload refused: malware found")
        LEGAL_HOLD_PLACED = "legal_hold.placed", _("Legal hold placed")
        LEGAL_HOLD_LIFTED = "legal_hold.lifted", _("Legal hold lifted")
        MESSAGES_EXPORTED = "messages.exported", _("Messages exported for eDiscovery")
        RECIPIENT_NOTIFIED = "recipient.notified", _("Recipient notified")
        MESSAGE_EXPIRED = "message.expired", _("Message expired")
        API_KEY_CREATED = "api_key.created", _("API key created")
        API_KEY_REVOKED = "api_key.revoked", _("API key revoked")
        WEBHOOK_DISABLED = "webhook.disabled", _("Webhook endpoint disabled")
        WEBHOOK_CHANGED = "webhook.changed", _("Webhook endpoint changed")
        WEBHOOK_RESENT = "webhook.resent", _("Webhook delivery sent again")
        AUTH_PROFILE_CHANGED = "auth_profile.changed", _("Authentication profile changed")
        BRANDING_CHANGED = "branding.changed", _("Branding changed")
        KEYS_ROTATED = "keys.rotated", _("Keys re-wrapped under the newest key-encryption key")
        API_USED = "api.used", _("API request")

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    event = models.CharField(_("event"), max_length=40, choices=Event, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(
        _("actor"), max_length=254, help_text=_("An address, “system”, or an API key's name.")
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
        verbose_name=_("account concerned"),
    )
    subject_name = models.CharField(_("account concerned"), max_length=254, blank=True, db_index=True)
    message = models.CharField(_("message"), max_length=36, blank=True, db_index=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    request_id = models.CharField(_("request id"), max_length=100, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    # Written while AUDIT_SYSLOG is set: not sent to the SIEM yet (portal.audit_syslog sends, then clears).
    syslog_pending = models.BooleanField(_("waiting for the SIEM"), default=False, editable=False)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["subject", "-at"], name="audit_subject_at"),
            models.Index(fields=["id"], condition=models.Q(syslog_pending=True), name="audit_syslog_pending"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.event} {self.actor_name}"

    SUMMARY_DETAILS = (
        "permission",
        "fields",
        "added",
        "removed",
        "scope",
        "key",
        "alias",
        "passkey",
        "reason",
    )

    def summary(self):
        """The event in a line for the admin: its label and the details that say what changed."""
        shown = []
        for name in self.SUMMARY_DETAILS:
            value = self.details.get(name)
            if value not in (None, "", []):
                shown.append(", ".join(map(str, value)) if isinstance(value, list) else str(value))
        label = str(self.get_event_display())
        return f"{label}: {'; '.join(shown)}" if shown else label

    def as_json(self):
        """The event as the export, the syslog stream and the API write it."""
        return {
            "id": self.pk,
            "time": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "event": self.event,
            "actor": self.actor_name,
            "subject": self.subject_name or None,
            "message": self.message or None,
            "ip": self.ip,
            "request_id": self.request_id or None,
            "details": self.details,
        }
