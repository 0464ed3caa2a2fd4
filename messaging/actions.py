"""Every change to a message's fate, and to a reader's copy: checked, done and recorded at once.

The sender's controls (extend, recall, resend), a reader's moves and 'mark as unread', replies and the
purge of expired content are made here and nowhere else: by the mailbox's pages, the admin and
commands alike. Each asks `messaging.access` who may, makes the change and writes its audit event in
the same transaction. Resends, replies and emailed codes are counted per hour in one locking
statement (accounts.throttle.take), so no number of parallel requests turns the portal into a mail
cannon.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import throttle
from accounts.models import User
from portal import audit
from portal.audit import Actor
from portal.client import Client

from . import access, limits, mailbox, purging
from .holding import IncomingAttachment, hold
from .models import AccessEvent, LegalHold, Message, Notification, Recipient, ScanState
from .scanning import Infected

log = logging.getLogger("portal.messaging")


class Refused(PermissionDenied):
    """Not allowed (or not now): nothing was changed, nothing sent."""


def _may_manage(actor: Actor, message: Message) -> None:
    if not access.may_manage(actor, message):
        raise Refused(_("Only the sender of this message can do this."))


def extend(actor: Actor, client: Client | None, message: Message, expires_at: datetime) -> None:
    """A new expiry, for every recipient; the message is readable again if it had expired."""
    _may_manage(actor, message)
    if message.purged_at:
        raise Refused(_("This message can no longer be extended."))
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(expires_at=expires_at)
        message.expires_at = expires_at
        detail = f"until {timezone.localtime(expires_at):%Y-%m-%d %H:%M %Z}"
        AccessEvent.record(actor, client, message, AccessEvent.Action.EXTEND, detail=detail)


def recall(actor: Actor, client: Client | None, message: Message, recipient: Recipient | None = None) -> None:
    """Recall the message from one recipient, or from all of them."""
    _may_manage(actor, message)
    now = timezone.now()
    with transaction.atomic():
        if recipient is None:
            Message.objects.filter(pk=message.pk, revoked_at__isnull=True).update(revoked_at=now)
            message.revoked_at = message.revoked_at or now
            detail, subject = "all recipients", None
        else:
            Recipient.objects.filter(pk=recipient.pk, recalled_at__isnull=True).update(recalled_at=now)
            recipient.recalled_at = recipient.recalled_at or now
            detail, subject = recipient.address, recipient.user or recipient.address
        AccessEvent.record(actor, client, message, AccessEvent.Action.RECALL, detail=detail, subject=subject)


def resends_left(recipient: Recipient) -> int:
    """How many more notifications this recipient may be sent this hour."""
    return throttle.left(limits.Scope.RESEND, str(recipient.pk))


def resend(actor: Actor, client: Client | None, recipient: Recipient) -> None:
    """A new notification with a new link; the old link stops working at once."""
    message = recipient.message
    _may_manage(actor, message)
    if message.scan != ScanState.CLEAN:
        raise Refused(_("This message was not delivered: its attachments are not scanned clean."))
    with transaction.atomic():
        if not throttle.take(limits.Scope.RESEND, str(recipient.pk)):
            raise Refused(
                _("%(address)s has been sent %(count)d notifications in the last hour; try again later.")
                % {"address": recipient.address, "count": settings.RESEND_PER_RECIPIENT_PER_HOUR}
            )
        Recipient.objects.filter(pk=recipient.pk).update(token_hash="")
        recipient.token_hash = ""
        Notification.objects.create(recipient=recipient, kind=Notification.Kind.NEW_MESSAGE)
        AccessEvent.record(
            actor, client, message, AccessEvent.Action.RESEND, detail=recipient.address,
            subject=recipient.user or recipient.address,
        )  # fmt: skip


def move(actor: User, client: Client | None, public_ids: list[str], folder: str) -> int:
    """Move the reader's own copies of these messages to a folder; returns how many moved."""
    return _move(actor, client, mailbox.movable(actor, public_ids, folder), folder)


def empty_deleted(actor: User, client: Client | None) -> int:
    """Everything in the reader's Deleted folder leaves their view for good."""
    deleted = Recipient.objects.filter(user=actor, folder=Recipient.Folder.DELETED)
    return _move(actor, client, deleted, Recipient.Folder.EMPTIED)


def _move(actor: User, client: Client | None, copies: QuerySet[Recipient], folder: str) -> int:
    with transaction.atomic():
        rows = list(copies.select_related("message"))
        Recipient.objects.filter(pk__in=[r.pk for r in rows]).update(folder=folder)
        AccessEvent.record_many(
            actor,
            client,
            [
                AccessEvent.of(
                    actor, client, r.message, AccessEvent.Action.MOVE, detail=f"{r.address} to {folder}"
                )
                for r in rows
            ],
        )
    return len(rows)


def mark_unread(actor: User, client: Client | None, rights: access.Rights) -> None:
    """The reader's own copy shows as new again."""
    recipient = rights.recipient
    if recipient is None or not rights.mark_unread or recipient.user_id != actor.pk:
        raise Refused(_("This is not your copy of the message."))
    with transaction.atomic():
        Recipient.objects.filter(pk=recipient.pk).update(unread=True)
        recipient.unread = True
        AccessEvent.record(
            actor, client, recipient.message, AccessEvent.Action.MARK_UNREAD, detail=recipient.address
        )


def replies_left(actor: User) -> int:
    return throttle.left(limits.Scope.REPLY, str(actor.pk))


def reply(
    actor: User,
    rights: access.Rights,
    body: str,
    attachments: list[IncomingAttachment],
    *,
    everyone: bool = False,
    client: Client | None = None,
) -> Message:
    """Hold the reader's reply (to the sender, or to everyone shown) as a new message of the thread.

    The reply holds only what the reader wrote: the message it answers is quoted when it is shown, to
    those who may print it then (messaging.access.may_quote), so a restriction or a recall hides the
    quote as well."""
    message = rights.message
    to = rights.reply_all_to if everyone else rights.reply_to
    if not to:
        raise Refused(_("Replies to this message are not allowed."))
    with transaction.atomic():
        if not throttle.take(limits.Scope.REPLY, str(actor.pk)):
            raise Refused(
                _("You have sent %(count)d replies in the last hour; please try again later.")
                % {"count": settings.REPLIES_PER_HOUR}
            )
        sent = hold(
            kind=message.kind,
            sender=actor.email,
            sender_user=actor,
            recipients=list(to),
            subject=mailbox.reply_subject(message.subject),
            text=body,
            attachments=attachments,
            source=Message.Source.REPLY,
            in_reply_to=message,
            client=client,
        )
        audit.record(
            audit.Event.MESSAGE_REPLIED, actor=actor, client=client, message=message,
            reply=str(sent.public_id), everyone=everyone or None,
        )  # fmt: skip
    return sent


def purge(actor: Actor, client: Client | None, message: Message, *, reason: str = "retention") -> bool:
    """The content of a message goes (bodies, attachments); its envelope stays for the history. Checked
    here (the sender's controls, or a trusted actor); done by `purging.purge_content`."""
    if not audit.is_trusted(actor):
        _may_manage(actor, message)
    return purging.purge_content(actor, client, message, reason=reason)


def refuse_upload(actor: Actor, client: Client | None, infected: Infected) -> None:
    """An upload with malware was refused (nothing of it was kept): in the trail, with what was found."""
    audit.record(
        audit.Event.UPLOAD_REFUSED, actor=actor, client=client,
        files=[f.filename for f in infected.findings], signatures=[f.signature for f in infected.findings],
    )  # fmt: skip


MANAGE_LEGAL_HOLD = "messaging.manage_legal_hold"


def place_legal_hold(
    actor: Actor,
    client: Client | None,
    reason: str,
    *,
    account: User | None = None,
    message: Message | None = None,
) -> LegalHold:
    """Keep an account's messages (sent and received) or one message whatever the retention says."""
    _may_hold(actor)
    if (account is None) == (message is None):
        raise Refused(_("A legal hold is on one account or on one message."))
    if not reason.strip():
        raise Refused(_("Say why the content is kept: a legal hold needs a reason."))
    _name, by = audit.actor_fields(actor)
    with transaction.atomic():
        hold_row = LegalHold.objects.create(
            account=account, message=message, reason=reason.strip(), placed_by=by
        )
        audit.record(
            audit.Event.LEGAL_HOLD_PLACED, actor=actor, client=client, subject=account, message=message,
            reason=hold_row.reason, hold=hold_row.pk,
        )  # fmt: skip
    return hold_row


def lift_legal_hold(actor: Actor, client: Client | None, hold_row: LegalHold) -> bool:
    """The content follows the retention again (a purge already due happens at the next round)."""
    _may_hold(actor)
    _name, by = audit.actor_fields(actor)
    with transaction.atomic():
        lifted = LegalHold.objects.filter(pk=hold_row.pk, lifted_at__isnull=True).update(
            lifted_at=timezone.now(), lifted_by=by
        )
        if lifted:
            audit.record(
                audit.Event.LEGAL_HOLD_LIFTED, actor=actor, client=client, subject=hold_row.account,
                message=hold_row.message, reason=hold_row.reason, hold=hold_row.pk,
            )  # fmt: skip
    return bool(lifted)


def _may_hold(actor: Actor) -> None:
    if audit.is_trusted(actor):
        return
    if actor is None or not actor.is_active or not actor.has_perm(MANAGE_LEGAL_HOLD):
        raise Refused(_("You do not have the permission to place or lift legal holds."))


def record_expiries(limit: int = 500) -> int:
    """Messages whose time is up, in the audit trail once each (`message.expired`: webhooks follow it)."""
    now = timezone.now()
    due = list(
        Message.objects.filter(expires_at__lte=now, expiry_recorded_at__isnull=True)
        .order_by("expires_at")
        .values_list("pk", "public_id")[:limit]
    )
    for pk, public_id in due:
        with transaction.atomic():
            if Message.objects.filter(pk=pk, expiry_recorded_at__isnull=True).update(expiry_recorded_at=now):
                audit.record(audit.Event.MESSAGE_EXPIRED, actor=audit.SYSTEM, message=str(public_id))
    return len(due)
