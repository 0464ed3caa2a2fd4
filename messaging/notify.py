"""Notification and credential emails, sent from the outbox by a worker that retries until they go.

A link token or a temporary password exists in plain text only in the email being sent: each
is made inside a savepoint that is kept only if the relay accepted the email.
"""

from django.conf import settings

from accounts import passwords
from portal import audit, branding, worker
from portal.mail import Outbox, build_email, register_outbox, when_sent

from . import authenticity, tokens
from .models import Notification, ScanState


def message_link(token):
    return f"{settings.PORTAL_BASE_URL}/m/{token}/"


def _new_message_email(notification):
    recipient = notification.recipient
    token, recipient.token_hash = tokens.new_token()
    when_sent(lambda: recipient.save(update_fields=["token_hash"]))  # the old link works until then
    check_code, notification.check_hash = authenticity.new_check_code()  # saved with the row, once sent
    message = recipient.message
    return build_email(
        recipient.address,
        "new_message",
        {
            "message": message,
            "recipient": recipient,
            "link": message_link(token),
            "sign_in_by_code": settings.RECIPIENT_SIGN_IN == "code",
            "check_code": check_code,
            "check_url": f"{settings.PORTAL_BASE_URL}/check/",
        },
        language=recipient.user.language,
        worded=lambda look: branding.notification_wording(
            look, sender=message.sender, subject=message.subject, expires_at=message.expires_at
        ),
    )


def _credentials_email(notification):
    recipient = notification.recipient
    user = recipient.user
    if settings.RECIPIENT_SIGN_IN == "code":
        return None  # the link and an emailed code are enough: no password to forget
    if user.has_usable_password():
        return None  # they have set a password since: nothing to send
    if user.temporary_password and not passwords.temporary_password_expired(user):
        return None  # an earlier message's credentials still work
    plain = passwords.issue_temporary_password(user, "new_recipient", when_sent=when_sent)
    return build_email(
        recipient.address,
        "recipient_credentials",
        {
            "message": recipient.message,
            "user": user,
            "temporary_password": plain,
            "expires_at": user.temporary_password_expires_at,
        },
        language=user.language,
    )


def _read_receipt_email(notification):
    recipient = notification.recipient
    sender = recipient.message.sender_user
    return build_email(
        recipient.message.sender,
        "read_receipt",
        {"message": recipient.message, "recipient": recipient},
        language=sender.language if sender else "",
    )


def _malware_notice_email(notification):
    message = notification.recipient.message
    sender = message.sender_user
    return build_email(
        message.sender,
        "malware_notice",
        {
            "message": message,
            "infected": message.attachments.exclude(finding="").order_by("pk"),
            "unscannable": message.scan == ScanState.TOO_LARGE,
            "refused": message.scan == ScanState.TOO_LARGE and message.purged_at is not None,
        },
        language=sender.language if sender else "",
    )


COMPOSERS = {
    Notification.Kind.NEW_MESSAGE: _new_message_email,
    Notification.Kind.CREDENTIALS: _credentials_email,
    Notification.Kind.READ_RECEIPT: _read_receipt_email,
    Notification.Kind.MALWARE_NOTICE: _malware_notice_email,
}


def _compose(notification):
    return COMPOSERS[notification.kind](notification)


def _mark_notified(notification):
    if notification.kind == Notification.Kind.NEW_MESSAGE:
        recipient = notification.recipient
        recipient.notified_at = notification.sent_at
        recipient.save(update_fields=["notified_at"])
        audit.record(
            audit.Event.RECIPIENT_NOTIFIED, actor=audit.SYSTEM, subject=recipient.user or recipient.address,
            message=recipient.message, recipient=recipient.address,
        )  # fmt: skip


NOTIFICATIONS = register_outbox(
    Outbox(
        Notification,
        _compose,
        related=("recipient__message__sender_user", "recipient__user"),
        after_sent=_mark_notified,
    )
)


def deliver_due():
    """Every job of the worker once, in order (`--once`, and the tests): hold the spooled mail, scan the
    held mail that waited for the scanner, record expiries, send the emails that are due, then the other
    apps' jobs (webhooks, the audit stream); how many emails went."""
    return worker.run_steps().get("emails") or 0
