"""Reading a held message: who may, and what opening it records."""

from django.db import transaction
from django.utils import timezone

from .models import AccessEvent, Notification, Recipient
from .tokens import hash_token, looks_like_token


def recipient_for_token(token):
    """The recipient a link token belongs to, or None (wrong shape, tampered, unknown)."""
    if not looks_like_token(token):
        return None
    return (
        Recipient.objects.select_related("message", "user")
        .filter(token_hash=hash_token(token), message__purged_at__isnull=True)
        .first()
    )


def mask_address(address):
    """j***@example.com: enough for the person to recognise, not enough to learn it."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def unavailable_reason(message):
    """Why a recipient cannot read a message any more: 'revoked', 'expired' or ''."""
    if message.is_revoked:
        return "revoked"
    if message.is_expired or message.purged_at:
        return "expired"
    return ""


def record_open(request, message, recipient):
    """An open: logged every time; the first one also sets first_opened_at and the read receipt."""
    AccessEvent.record(request, message, AccessEvent.Action.OPEN)
    if recipient is None or recipient.first_opened_at:
        return
    with transaction.atomic():
        first = Recipient.objects.filter(pk=recipient.pk, first_opened_at__isnull=True).update(
            first_opened_at=timezone.now()
        )
        if first and message.read_receipt:
            Notification.objects.create(recipient=recipient, kind=Notification.Kind.READ_RECEIPT)
