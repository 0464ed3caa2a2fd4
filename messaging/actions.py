"""Every change to a message's fate, and to a reader's copy: checked, done and recorded at once.

The sender's controls (extend, recall, resend), a reader's moves and 'mark as unread', and replies
are made here and nowhere else: by the mailbox's pages, the admin and commands alike. Each checks
who may (`messaging.access`), makes the change and writes the message's access event in the same
transaction. Resends and replies are limited per hour, so nobody turns the portal into a mail cannon.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from . import access, mailbox
from .holding import hold, read_bodies
from .models import AccessEvent, Message, Notification, Recipient


class Refused(PermissionDenied):
    """Not allowed (or not now): nothing was changed, nothing sent."""


def _may_manage(actor, message):
    if not access.may_manage(actor, message):
        raise Refused(_("Only the sender of this message can do this."))


def extend(actor, client, message, expires_at):
    """A new expiry, for every recipient; the message is readable again if it had expired."""
    _may_manage(actor, message)
    if message.purged_at:
        raise Refused(_("This message can no longer be extended."))
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(expires_at=expires_at)
        message.expires_at = expires_at
        detail = f"until {timezone.localtime(expires_at):%Y-%m-%d %H:%M %Z}"
        AccessEvent.record(actor, client, message, AccessEvent.Action.EXTEND, detail=detail)


def recall(actor, client, message, recipient=None):
    """Recall the message from one recipient, or from all of them."""
    _may_manage(actor, message)
    now = timezone.now()
    with transaction.atomic():
        if recipient is None:
            Message.objects.filter(pk=message.pk, revoked_at__isnull=True).update(revoked_at=now)
            message.revoked_at = message.revoked_at or now
            detail = "all recipients"
        else:
            Recipient.objects.filter(pk=recipient.pk, recalled_at__isnull=True).update(recalled_at=now)
            recipient.recalled_at = recipient.recalled_at or now
            detail = recipient.address
        AccessEvent.record(actor, client, message, AccessEvent.Action.RECALL, detail=detail)


def resends_left(recipient):
    """How many more notifications this recipient may be sent this hour."""
    since = timezone.now() - timedelta(hours=1)
    done = AccessEvent.objects.filter(
        message_id=recipient.message_id,
        action=AccessEvent.Action.RESEND,
        detail=recipient.address,
        at__gte=since,
    ).count()
    return max(0, settings.RESEND_PER_RECIPIENT_PER_HOUR - done)


def resend(actor, client, recipient):
    """A new notification with a new link; the old link stops working at once."""
    message = recipient.message
    _may_manage(actor, message)
    if not resends_left(recipient):
        raise Refused(
            _("%(address)s has been sent %(count)d notifications in the last hour; try again later.")
            % {"address": recipient.address, "count": settings.RESEND_PER_RECIPIENT_PER_HOUR}
        )
    with transaction.atomic():
        Recipient.objects.filter(pk=recipient.pk).update(token_hash="")
        recipient.token_hash = ""
        Notification.objects.create(recipient=recipient, kind=Notification.Kind.NEW_MESSAGE)
        AccessEvent.record(actor, client, message, AccessEvent.Action.RESEND, detail=recipient.address)


def move(actor, client, public_ids, folder):
    """Move the reader's own copies of these messages to a folder; returns how many moved."""
    return _move(actor, client, mailbox.movable(actor, public_ids, folder), folder)


def empty_deleted(actor, client):
    """Everything in the reader's Deleted folder leaves their view for good."""
    deleted = Recipient.objects.filter(user=actor, folder=Recipient.Folder.DELETED)
    return _move(actor, client, deleted, Recipient.Folder.EMPTIED)


def _move(actor, client, copies, folder):
    with transaction.atomic():
        rows = list(copies.select_related("message"))
        Recipient.objects.filter(pk__in=[r.pk for r in rows]).update(folder=folder)
        AccessEvent.objects.bulk_create(
            AccessEvent.of(
                actor, client, r.message, AccessEvent.Action.MOVE, detail=f"{r.address} to {folder}"
            )
            for r in rows
        )
    return len(rows)


def mark_unread(actor, client, recipient):
    if recipient.user_id != actor.pk:
        raise Refused(_("This is not your copy of the message."))
    with transaction.atomic():
        Recipient.objects.filter(pk=recipient.pk).update(unread=True)
        recipient.unread = True
        AccessEvent.record(
            actor, client, recipient.message, AccessEvent.Action.MARK_UNREAD, detail=recipient.address
        )


def replies_left(actor):
    since = timezone.now() - timedelta(hours=1)
    done = Message.objects.filter(
        sender_user=actor, source=Message.Source.REPLY, created_at__gte=since
    ).count()
    return max(0, settings.REPLIES_PER_HOUR - done)


def reply(actor, rights, body, attachments, *, everyone=False):
    """Hold the reader's reply (to the sender, or to everyone shown) as a new message of the thread."""
    message = rights.message
    to = rights.reply_all_to if everyone else rights.reply_to
    if not to:
        raise Refused(_("Replies to this message are not allowed."))
    if not replies_left(actor):
        raise Refused(
            _("You have sent %(count)d replies in the last hour; please try again later.")
            % {"count": settings.REPLIES_PER_HOUR}
        )
    text, html = read_bodies(message)
    return hold(
        kind=message.kind,
        sender=actor.email,
        sender_user=actor,
        recipients=list(to),
        subject=mailbox.reply_subject(message.subject),
        text=mailbox.quoted_reply(body, message, text or strip_tags(html)),
        attachments=attachments,
        source=Message.Source.REPLY,
        in_reply_to=message,
    )
