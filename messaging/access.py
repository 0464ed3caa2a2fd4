"""The one rule of what a person may do with a message: every page, download and action asks it.

A message exists for its sender and its recipients only; for anyone else it is not found. The sender
reads it while it is kept and manages it (extend, recall, resend); a recipient reads it while it is
open to them (not expired, not recalled), prints and downloads unless it is restricted, and replies
when replies are allowed: to the sender, or to everyone the message showed (never a blind copy,
never themselves).
"""

from dataclasses import dataclass

from .models import Message, Recipient

REVOKED, EXPIRED = "revoked", "expired"


def unavailable_reason(message, recipient=None):
    """Why a recipient cannot read a message any more: 'revoked' (for all, or for them), 'expired' or ''."""
    if message.is_revoked or (recipient is not None and recipient.recalled_at):
        return REVOKED
    if message.is_expired or message.purged_at:
        return EXPIRED
    return ""


def reply_all_addresses(message, recipient, reader):
    """The sender and the To/Cc addresses the message showed, less the reader's own (the address it
    reached them at, and their primary one): never a blind copy."""
    own = {recipient.address, reader.email}
    addresses = [message.sender, *message.shown_recipients]
    return [a for i, a in enumerate(addresses) if a not in own and a not in addresses[:i]]


@dataclass(frozen=True)
class Rights:
    """What one person may do with one message."""

    message: Message
    recipient: Recipient = None  # the reader's own copy; None for the sender
    unavailable: str = ""  # why a recipient can no longer read it ('' while they can)
    read: bool = False
    print: bool = False
    download: bool = False
    reply_to: tuple = ()
    reply_all_to: tuple = ()
    manage: bool = False  # the sender's controls: extend, recall, resend

    @property
    def is_sender(self):
        return self.recipient is None

    @property
    def reply(self):
        return bool(self.reply_to)

    @property
    def reply_all(self):
        return len(self.reply_all_to) > 1


def rights_of(user, message, recipient):
    """The rights of `user` on `message`, given their recipient row (None when they sent it). No query."""
    if recipient is None:
        if message.sender_user_id != user.pk:
            return Rights(message)
        kept = message.purged_at is None
        return Rights(message, read=kept, print=kept, download=kept, manage=True)
    reason = unavailable_reason(message, recipient)
    if reason:
        return Rights(message, recipient, unavailable=reason)
    take_away = not message.restricted
    rights = {"read": True, "print": take_away, "download": take_away}
    if message.allow_reply:
        rights["reply_to"] = (message.sender,)
        rights["reply_all_to"] = tuple(reply_all_addresses(message, recipient, user))
    return Rights(message, recipient, **rights)


def rights(user, public_id):
    """The rights of `user` on the message `public_id`, or None when it does not exist for them (404).
    One query for a recipient."""
    if not user.is_authenticated:
        return None
    # A user with aliases may hold two rows for one message; either is theirs. No ORDER BY: cheaper.
    recipient = next(
        iter(Recipient.objects.select_related("message").filter(message__public_id=public_id, user=user)[:1]),
        None,
    )
    if recipient is not None:
        message = recipient.message
        return rights_of(user, message, None if message.sender_user_id == user.pk else recipient)
    message = Message.objects.filter(public_id=public_id, sender_user=user).first()
    return rights_of(user, message, None) if message is not None else None


def may_manage(user, message):
    """The sender's controls (extend, recall, resend): its sender, or staff allowed to change messages."""
    if not user.is_active:
        return False
    return message.sender_user_id == user.pk or user.has_perm("messaging.change_message")
