"""Held messages, their recipients and attachments, who opened what, and the notification outbox."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal import audit
from portal.models import Outbox


def default_expiry():
    return timezone.now() + timedelta(days=settings.MESSAGE_EXPIRY_DAYS)


class ScanState(models.TextChoices):
    """Where a message's attachments are in the malware scan (messaging.scanning)."""

    CLEAN = "clean", _("Clean, or nothing to scan")
    PENDING = "pending", _("Waiting for the scanner")
    INFECTED = "infected", _("Quarantined: malware found")
    TOO_LARGE = "too_large", _("Quarantined: too large for the malware scanner")


# Held, nobody notified, nobody opens it: what the administrators review on the Quarantine page.
QUARANTINED = (ScanState.INFECTED, ScanState.TOO_LARGE)


class Availability(models.TextChoices):
    """Whether a recipient can still read a message, and if not, why (Recipient.availability)."""

    OPEN = "open", _("Open")
    RECALLED = "recalled", _("Recalled")
    EXPIRED = "expired", _("Expired")


class MessageState(models.TextChoices):
    """Where a held message stands for its sender (Message.state; MessageQuerySet.in_state)."""

    OPEN = "open", _("open")
    RECALLED = "recalled", _("recalled")
    EXPIRED = "expired", _("expired")
    QUARANTINED = "quarantined", _("quarantined")
    SCANNING = "scanning", _("waiting for the malware scan")


class Progress(models.TextChoices):
    """Where one recipient's copy stands, as its sender follows it on the message page, in the API
    and in the admin (Recipient.progress)."""

    WAITING = "waiting", _("waiting to be notified")
    NOTIFIED = "notified", _("notified")
    OPENED = "opened", _("opened")
    DOWNLOADED = "downloaded", _("downloaded")
    REPLIED = "replied", _("replied")
    RECALLED = "recalled", _("recalled")
    EXPIRED = "expired", _("expired")
    QUARANTINED = "quarantined", _("quarantined")
    SCANNING = "scanning", _("waiting for the malware scan")


class MessageQuerySet(models.QuerySet):
    def in_state(self, state):
        """The messages whose `state` is `state` (a MessageState): Message.state, asked of the database."""
        now = timezone.now()
        clean = models.Q(scan=ScanState.CLEAN)
        kept = clean & models.Q(revoked_at__isnull=True)
        conditions = {
            MessageState.QUARANTINED: models.Q(scan__in=QUARANTINED),
            MessageState.SCANNING: models.Q(scan=ScanState.PENDING),
            MessageState.RECALLED: clean & models.Q(revoked_at__isnull=False),
            MessageState.EXPIRED: kept & (models.Q(expires_at__lte=now) | models.Q(purged_at__isnull=False)),
            MessageState.OPEN: kept & models.Q(expires_at__gt=now, purged_at__isnull=True),
        }
        return self.filter(conditions[MessageState(state)])


class Message(models.Model):
    """A secure message held by the portal; its body is encrypted under its own key."""

    class Kind(models.TextChoices):
        CCM = "ccm", _("Closed Circuit Messaging")
        SECURE = "secure", _("Secure Messaging")

    class Source(models.TextChoices):
        SMTP = "smtp", _("SMTP intake")
        API = "api", _("REST API")
        COMPOSE = "compose", _("Composed in the portal")
        REPLY = "reply", _("Reply to a message")
        ADMIN = "admin", _("Administrator")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind, default=Kind.SECURE)
    sender = models.EmailField(_("sender address"))
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sent_messages",
    )
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    shown_recipients = models.JSONField(
        _("recipients as the message shows them"),
        default=list,
        blank=True,
        help_text=_("The To and Cc addresses. Blind-copied recipients are held too, but not shown here."),
    )
    key_id = models.CharField(_("key-encryption key"), max_length=64)
    wrapped_key = models.BinaryField(_("wrapped message key"))
    body_text = models.BinaryField(_("text body (encrypted)"), blank=True)
    body_html = models.BinaryField(_("HTML body (encrypted, sanitised)"), blank=True)
    created_at = models.DateTimeField(_("held at"), default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(_("expires at"), default=default_expiry, db_index=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    purged_at = models.DateTimeField(_("content purged at"), null=True, blank=True)
    scan = models.CharField(
        _("malware scan"),
        max_length=10,
        choices=ScanState,
        default=ScanState.CLEAN,
        db_index=True,
        help_text=_("Recipients are notified, and open it, only once its attachments are clean."),
    )
    scanned_at = models.DateTimeField(_("scanned at"), null=True, blank=True)
    expiry_recorded_at = models.DateTimeField(
        _("expiry recorded at"),
        null=True,
        blank=True,
        help_text=_("When its expiry went into the audit trail."),
    )
    finding = models.CharField(
        _("malware found"),
        max_length=500,
        blank=True,
        help_text=_("The infected files and what ClamAV found."),
    )
    allow_reply = models.BooleanField(_("allow reply"), default=True)
    read_receipt = models.BooleanField(_("read receipt"), default=False)
    restricted = models.BooleanField(
        _("restricted"), default=False, help_text=_("Recipients get no print view and no downloads.")
    )
    source = models.CharField(_("source"), max_length=10, choices=Source)
    in_reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    search_text = models.TextField(
        _("searched text"),
        blank=True,
        editable=False,
        help_text=_("Sender, subject and shown recipients, lower-cased: what a mailbox search reads."),
    )

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at"]
        permissions = [
            ("view_message_content", _("Can read the content of held messages")),
            ("manage_legal_hold", _("Can place and lift legal holds")),
            ("export_messages", _("Can export messages for eDiscovery")),
        ]
        indexes = [models.Index(fields=["sender_user", "-id"], name="sent_folder")]

    def __str__(self):
        return f"{self.subject or '(no subject)'} from {self.sender}"

    @property
    def is_expired(self):
        return self.expires_at <= timezone.now()

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    @property
    def availability(self):
        """Whether its recipients can still read it (Availability.OPEN), or why not."""
        if self.is_revoked:
            return Availability.RECALLED
        if self.is_expired or self.purged_at:
            return Availability.EXPIRED
        return Availability.OPEN

    @property
    def state(self):
        """Where it stands for its sender: in the scan first, then whether it can still be read."""
        if self.scan in QUARANTINED:
            return MessageState.QUARANTINED
        if self.scan == ScanState.PENDING:
            return MessageState.SCANNING
        return MessageState(self.availability)

    def searchable(self):
        """What a search may find: never a blind copy, never the body (encrypted)."""
        return " ".join([self.sender, self.subject, *self.shown_recipients]).lower()

    def crypto_context(self):
        """Bound into every ciphertext of this message, so that none can be moved to another."""
        return f"message:{self.public_id}".encode()


class RecipientQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The user's own copies that are there for them: none of a message until it is scanned clean
        (waiting for the scanner, or quarantined, it is not there for its recipients yet)."""
        return self.filter(user=user, message__scan=ScanState.CLEAN)

    def with_replies(self):
        """Each row with `replied_at`: when its person first replied (for the sender's status)."""
        replies = Message.objects.filter(
            in_reply_to=models.OuterRef("message"), sender_user=models.OuterRef("user")
        )
        return self.annotate(
            replied_at=models.Subquery(replies.order_by("created_at").values("created_at")[:1])
        )


class Recipient(models.Model):
    """One addressee of a message, and that reader's mailbox entry: folder, read state, opens, recall."""

    class Folder(models.TextChoices):
        INBOX = "inbox", _("Inbox")
        DELETED = "deleted", _("Deleted")
        EMPTIED = "emptied", _("Removed from Deleted")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="recipients")
    address = models.EmailField(_("address"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="received_messages"
    )
    token_hash = models.CharField(_("link token (SHA-256)"), max_length=64, blank=True, db_index=True)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)
    first_opened_at = models.DateTimeField(_("first opened at"), null=True, blank=True)
    last_opened_at = models.DateTimeField(_("last opened at"), null=True, blank=True)
    opens = models.PositiveIntegerField(_("times opened"), default=0)
    downloaded_at = models.DateTimeField(_("first downloaded at"), null=True, blank=True)
    recalled_at = models.DateTimeField(_("recalled at"), null=True, blank=True)
    folder = models.CharField(_("folder"), max_length=10, choices=Folder, default=Folder.INBOX)
    unread = models.BooleanField(_("unread"), default=True)

    objects = RecipientQuerySet.as_manager()

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        constraints = [
            models.UniqueConstraint(fields=["message", "address"], name="one_recipient_per_address")
        ]
        # A reader's folder, newest first (message ids grow with time): one index range per page.
        indexes = [
            models.Index(fields=["user", "folder", "-message"], name="reader_folder"),
            models.Index(
                fields=["user"], condition=models.Q(unread=True, folder="inbox"), name="unread_in_inbox"
            ),
        ]

    def __str__(self):
        return self.address

    @property
    def availability(self):
        """Whether the reader can still read their copy (Availability.OPEN), or why not."""
        if self.recalled_at is not None:
            return Availability.RECALLED
        return self.message.availability

    @property
    def is_open(self):
        return self.availability == Availability.OPEN

    def state_text(self):
        """What the reader's folder says of their copy: new, read, withdrawn or expired."""
        availability = self.availability
        if availability == Availability.OPEN:
            return _("new") if self.unread else _("read")
        return _("withdrawn") if availability == Availability.RECALLED else _("expired")

    @property
    def progress(self):
        """Where this copy stands for its sender (a Progress): whether it can still be read, the scan,
        then how far its reader went. `replied_at` is there where the query asked (with_replies)."""
        availability = self.availability
        if availability != Availability.OPEN:
            return Progress(availability)
        state = self.message.state
        if state != MessageState.OPEN:
            return Progress(state)
        if getattr(self, "replied_at", None):
            return Progress.REPLIED
        if self.downloaded_at:
            return Progress.DOWNLOADED
        if self.first_opened_at:
            return Progress.OPENED
        return Progress.NOTIFIED if self.notified_at else Progress.WAITING


class Attachment(models.Model):
    """A file of a message, encrypted in chunks in Django's storage."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=255)
    size = models.BigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    blob = models.CharField(_("stored as"), max_length=255)
    content_id = models.CharField(_("inline content ID"), max_length=255, blank=True)
    finding = models.CharField(_("malware found"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["pk"]

    def __str__(self):
        return self.filename

    def crypto_context(self):
        return self.message.crypto_context() + f":attachment:{self.public_id}".encode()


class AccessEvent(models.Model):
    """Who opened or downloaded what, when and from where."""

    class Action(models.TextChoices):
        OPEN = "open", _("Opened the message")
        DOWNLOAD = "download", _("Downloaded an attachment")
        PRINT = "print", _("Opened the print view")
        ADMIN_VIEW = "admin_view", _("Administrator read the content")
        EXTEND = "extend", _("Extended the expiry")
        RECALL = "recall", _("Recalled the message")
        RESEND = "resend", _("Sent the notification again")
        MOVE = "move", _("Moved the reader's copy")
        MARK_UNREAD = "mark_unread", _("Marked the reader's copy as unread")

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="access_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    action = models.CharField(_("action"), max_length=12, choices=Action)
    attachment = models.ForeignKey(Attachment, null=True, blank=True, on_delete=models.SET_NULL)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=1000, blank=True)
    detail = models.CharField(_("detail"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("access event")
        verbose_name_plural = _("access events")
        ordering = ["-at"]

    def __str__(self):
        return f"{self.get_action_display()} {self.at:%Y-%m-%d %H:%M}"

    @classmethod
    def of(cls, actor, client, message, action, attachment=None, detail=""):
        """An event, not saved yet: who (`actor`, a user or None), from where (`client`, a
        portal.client.Client), did what."""
        account = getattr(actor, "audit_account", actor)  # an API key acts for its account
        return cls(
            message=message,
            user=account
            if account is not None and not isinstance(account, str) and account.is_authenticated
            else None,
            action=action,
            attachment=attachment,
            ip=client.ip or None,
            user_agent=client.user_agent,
            detail=detail[:300],
        )

    def audit_event(self, actor, client, subject=None):
        """Its event in the one audit trail (portal.audit), not saved yet."""
        return audit.event_of(
            AUDIT_EVENTS[self.action],
            actor=actor,
            client=client,
            subject=subject,
            message=self.message,
            attachment=self.attachment.filename if self.attachment_id else None,
            attachment_sha256=self.attachment.sha256 if self.attachment_id else None,
            detail=self.detail,
        )

    @classmethod
    def record(cls, actor, client, message, action, attachment=None, detail="", subject=None):
        """The only writer of a message's access events (`of`, saved), each with its audit event."""
        event = cls.of(actor, client, message, action, attachment, detail)
        event.save()
        audit.record_many([event.audit_event(actor, client, subject)])
        return event

    @classmethod
    def record_many(cls, actor, client, events):
        """Several events of one actor (`of`, not saved), saved with their audit events."""
        events = cls.objects.bulk_create(events)
        audit.record_many([event.audit_event(actor, client) for event in events])
        return events


AUDIT_EVENTS = {
    AccessEvent.Action.OPEN: audit.Event.MESSAGE_OPENED,
    AccessEvent.Action.DOWNLOAD: audit.Event.ATTACHMENT_DOWNLOADED,
    AccessEvent.Action.PRINT: audit.Event.MESSAGE_PRINTED,
    AccessEvent.Action.ADMIN_VIEW: audit.Event.MESSAGE_READ_BY_ADMINISTRATOR,
    AccessEvent.Action.EXTEND: audit.Event.MESSAGE_EXTENDED,
    AccessEvent.Action.RECALL: audit.Event.MESSAGE_RECALLED,
    AccessEvent.Action.RESEND: audit.Event.MESSAGE_RESENT,
    AccessEvent.Action.MOVE: audit.Event.MESSAGE_MOVED,
    AccessEvent.Action.MARK_UNREAD: audit.Event.MESSAGE_MARKED_UNREAD,
}


class Notification(Outbox):
    """The outbox: an email to send about a message. A worker sends it, retrying while the relay is down."""

    class Kind(models.TextChoices):
        NEW_MESSAGE = "new_message", _("New message notification")
        CREDENTIALS = "credentials", _("Temporary password for a first-time recipient")
        READ_RECEIPT = "read_receipt", _("Read receipt to the sender")
        MALWARE_NOTICE = "malware_notice", _("Malware found: notice to the sender")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="notifications")
    created_at = models.DateTimeField(_("queued at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True, db_index=True)
    check_hash = models.CharField(
        _("check code (keyed hash)"),
        max_length=64,
        blank=True,
        db_index=True,
        help_text=_(
            "The code the email carries, so that its recipient can check at /check/ that it is real."
        ),
    )

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.recipient.address}"


class QuarantinedMessageManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(scan__in=QUARANTINED)


class QuarantinedMessage(Message):
    """The held messages the scanner found malware in, or could not scan whole, for the administrators'
    Quarantine page."""

    objects = QuarantinedMessageManager()

    class Meta:
        proxy = True
        verbose_name = _("quarantined message")
        verbose_name_plural = _("quarantine")


class LegalHoldQuerySet(models.QuerySet):
    def active(self):
        return self.filter(lifted_at__isnull=True)

    def not_held(self, messages):
        """`messages` (a queryset) less those under an active hold: on them, or on an account that sent
        or received them."""
        holds = self.active()
        accounts = holds.filter(account__isnull=False).values("account_id")
        return messages.exclude(
            models.Q(pk__in=holds.filter(message__isnull=False).values("message_id"))
            | models.Q(sender_user__in=accounts)
            | models.Q(recipients__user__in=accounts)
        )


class LegalHold(models.Model):
    """Content a compliance officer keeps whatever the retention says: one message, or everything an
    account sent or received. Placed and lifted through messaging.actions, on the record."""

    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="legal_holds",
        verbose_name=_("account"),
        help_text=_("Everything this account sent or received."),
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="legal_holds"
    )
    reason = models.CharField(_("reason"), max_length=500)
    placed_at = models.DateTimeField(_("placed at"), default=timezone.now)
    placed_by = models.CharField(_("placed by"), max_length=254)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.CharField(_("lifted by"), max_length=254, blank=True)

    objects = LegalHoldQuerySet.as_manager()

    class Meta:
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        ordering = ["-placed_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(account__isnull=False, message__isnull=True)
                | models.Q(account__isnull=True, message__isnull=False),
                name="legal_hold_on_an_account_or_a_message",
            )
        ]

    def __str__(self):
        return f"{self.account or self.message}: {self.reason}"

    @property
    def is_active(self):
        return self.lifted_at is None


class SpooledMail(Outbox):
    """Mail the intake accepted, as it came, encrypted under a key of its own: committed in one INSERT
    before the 250, held by the worker (or by the intake at the end of the session) in a transaction
    that deletes this row. A row that cannot be held is retried, and after too many tries kept and shown
    to the administrators instead of being retried for ever."""

    public_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text=_("The id the held message will have.")
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    mail_from = models.CharField(_("envelope sender"), max_length=254, blank=True)
    rcpt_tos = models.JSONField(_("envelope recipients"), default=list)
    peer = models.GenericIPAddressField(_("sent from"), null=True, blank=True)
    size = models.PositiveIntegerField(_("size"))
    key_id = models.CharField(_("key-encryption key"), max_length=64)
    wrapped_key = models.BinaryField(_("wrapped key"))
    raw = models.BinaryField(_("the message as received (encrypted)"))
    failed_at = models.DateTimeField(
        _("given up at"), null=True, blank=True, help_text=_("It could not be held: see the last error.")
    )

    class Meta:
        verbose_name = _("spooled mail")
        verbose_name_plural = _("spooled mail")
        ordering = ["received_at", "pk"]

    def __str__(self):
        return f"{self.mail_from or '<>'} {self.received_at:%Y-%m-%d %H:%M:%S}"

    def crypto_context(self):
        return f"spool:{self.public_id}".encode()
