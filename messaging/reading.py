"""Reading a held message: who may, and what opening it records."""

from django.db import transaction
from django.utils import timezone

from .models import AccessEvent, Message, Notification, Recipient
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


def message_for(user, public_id):
    """(message, the user's recipient row) if the user received it, (message, None) if the user sent it;
    (None, None) for anyone else, to whom the message does not exist. One query for a recipient."""
    # A user with aliases may hold two rows for one message; either is theirs. No ORDER BY: cheaper.
    recipient = next(
        iter(Recipient.objects.select_related("message").filter(message__public_id=public_id, user=user)[:1]),
        None,
    )
    if recipient is not None:
        message = recipient.message
        return message, None if message.sender_user_id == user.pk else recipient
    return Message.objects.filter(public_id=public_id, sender_user=user).first(), None


def shown_recipients(message, recipient):
    """The To line a recipient sees: the addresses the message names, else only their own."""
    return message.shown_recipients or [recipient.address]


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
