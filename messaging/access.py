"""The one rule of what a person may do with a message: every page, download, action and template asks it.

A message exists for its sender and its recipients only; for anyone else it is not found. The sender
reads it while it is kept and manages it (extend, recall, resend); a recipient reads it while it is
open to them (not expired, not recalled), prints and downloads unless it is restricted, and replies
when replies are allowed: to the sender, or to everyone the message showed (never a blind copy,
never themselves, never someone it was recalled from). A reply quotes the original only to a reader
who may print the original now. Staff with the portal permission compose. Until its attachments are
scanned clean, a message is not there for its recipients, and its sender opens none of its files.
"""

import functools
from dataclasses import dataclass
from typing import Any

from accounts.models import User

from .models import Availability, Message, Recipient, ScanState

MANAGE_MESSAGES = "messaging.change_message"


def reply_all_addresses(message: Message, recipient: Recipient, reader: User) -> list[str]:
    """The sender and the To/Cc addresses the message showed, less the reader's own (the address it
    reached them at, and their primary one): never a blind copy."""
    own = {recipient.address, reader.email}
    addresses = [message.sender, *message.shown_recipients]
    return [a for i, a in enumerate(addresses) if a not in own and a not in addresses[:i]]


@dataclass(frozen=True)
class Rights:
    """What one person may do with one message."""

    message: Message
    recipient: Recipient | None = None  # the reader's own copy; None for the sender
    availability: str = Availability.OPEN  # for a recipient: whether they can still read it
    read: bool = False
    print: bool = False
    download: bool = False
    reply_to: tuple[str, ...] = ()
    reply_all_shown: tuple[str, ...] = ()  # whom a reply to all would reach, before the recalls are taken out
    manage: bool = False  # the sender's controls: extend, recall (from all or one), resend
    mark_unread: bool = False  # the reader's own copy, whether or not it can still be read

    @property
    def is_sender(self) -> bool:
        return self.recipient is None

    @property
    def unavailable(self) -> str:
        """Why a recipient can no longer read it ('' while they can)."""
        return "" if self.availability == Availability.OPEN else self.availability

    @property
    def reply(self) -> bool:
        return bool(self.reply_to)

    @functools.cached_property
    def reply_all_to(self) -> tuple[str, ...]:
        """Whom a reply to all reaches: never someone the message was recalled from (asked of the
        database only when it matters: a download does not)."""
        if len(self.reply_all_shown) < 2 or self.message.pk is None:
            return self.reply_all_shown
        recalled = recalled_addresses(self.message)
        return tuple(a for a in self.reply_all_shown if a not in recalled)

    @property
    def reply_all(self) -> bool:
        return len(self.reply_all_to) > 1

    @property
    def images(self) -> bool:
        """The message's own inline images, shown in its body: once scanned clean."""
        return self.read and self.message.scan == ScanState.CLEAN

    @property
    def extend(self) -> bool:
        return self.manage and self.message.purged_at is None

    @property
    def recall(self) -> bool:
        return self.manage and not self.message.is_revoked

    @property
    def resend(self) -> bool:
        return self.manage and not self.message.is_revoked and self.message.purged_at is None


def rights_of(user: User, message: Message, recipient: Recipient | None) -> Rights:
    """The rights of `user` on `message`, given their recipient row (None when they sent it). No query."""
    if recipient is None:
        if message.sender_user_id != user.pk:
            return Rights(message)
        kept = message.purged_at is None
        files = kept and message.scan == ScanState.CLEAN  # no file opens before it is scanned clean
        return Rights(message, read=kept, print=kept, download=files, manage=True)
    state = recipient.availability
    if state != Availability.OPEN:
        return Rights(message, recipient, availability=state, mark_unread=True)
    take_away = not message.restricted
    reply_to: tuple[str, ...] = ()
    reply_all_shown: tuple[str, ...] = ()
    if message.allow_reply:
        reply_to = (message.sender,)
        reply_all_shown = tuple(reply_all_addresses(message, recipient, user))
    return Rights(
        message, recipient, read=True, print=take_away, download=take_away, mark_unread=True,
        reply_to=reply_to, reply_all_shown=reply_all_shown,
    )  # fmt: skip


def recalled_addresses(message: Message) -> set[str]:
    return set(
        Recipient.objects.filter(message=message, recalled_at__isnull=False).values_list("address", flat=True)
    )


def rights(user: Any, public_id: Any) -> Rights | None:
    """The rights of `user` on the message `public_id`, or None when it does not exist for them (404)."""
    if not user.is_authenticated:
        return None
    # A user with aliases may hold two rows for one message; either is theirs. No ORDER BY: cheaper.
    own = Recipient.objects.visible_to(user).select_related("message").filter(message__public_id=public_id)
    recipient = next(iter(own[:1]), None)
    if recipient is not None:
        message = recipient.message
        return rights_of(user, message, None if message.sender_user_id == user.pk else recipient)
    message = Message.objects.filter(public_id=public_id, sender_user=user).first()
    return rights_of(user, message, None) if message is not None else None


def rights_on(user: Any, message: Message) -> Rights | None:
    """The rights of `user` on a message already loaded (None when it does not exist for them): no query
    for its sender, one for a reader."""
    if not user.is_authenticated:
        return None
    if message.sender_user_id == user.pk:
        return rights_of(user, message, None)
    recipient = next(iter(message.recipients.visible_to(user)[:1]), None)
    return rights_of(user, message, recipient) if recipient is not None else None


def may_quote(found: Rights | None) -> bool:
    """A reply shows the message it answers only to someone who may print that message now (`found`:
    their rights on it): a restriction or a recall hides the quote too."""
    return found is not None and found.read and found.print


def may_compose(user: Any) -> bool:
    """New messages come from staff with the portal permission."""
    return user.is_authenticated and user.is_portal_staff()


def may_manage(user: Any, message: Message) -> bool:
    """The sender's controls (extend, recall, resend): its sender, or staff allowed to change messages."""
    if not user.is_active:
        return False
    return message.sender_user_id == user.pk or user.has_perm(MANAGE_MESSAGES)
