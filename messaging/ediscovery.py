"""Export for eDiscovery: every message of an account as an .eml (bodies and attachments decrypted, the
headers as held) and its per-recipient history as JSON, in one zip file. Reading all of someone's mail
needs its own permission and is on the record."""

import email.policy
import json
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from portal import audit

from .actions import Refused
from .holding import open_attachment, read_bodies
from .models import Message

EXPORT_MESSAGES = "messaging.export_messages"


def messages_of(account, since=None):
    """What an account sent or received, oldest first."""
    found = Message.objects.filter(Q(sender_user=account) | Q(recipients__user=account)).distinct()
    if since is not None:
        found = found.filter(created_at__gte=since)
    return found.order_by("created_at", "pk")


def as_eml(message):
    """The message as its recipients received it: headers as held, the bodies, the files."""
    mail = EmailMessage(policy=email.policy.SMTPUTF8)
    mail["From"] = message.sender
    if message.shown_recipients:
        mail["To"] = ", ".join(message.shown_recipients)
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(message.created_at)
    mail["Message-ID"] = f"<{message.public_id}@secure-portal>"
    mail["X-Portal-Message-Id"] = str(message.public_id)
    mail["X-Portal-Kind"] = message.kind
    mail["X-Portal-Source"] = message.source
    mail["X-Portal-Expires"] = message.expires_at.isoformat()
    if message.in_reply_to_id:
        mail["In-Reply-To"] = f"<{message.in_reply_to.public_id}@secure-portal>"
    if message.purged_at:
        mail["X-Portal-Purged"] = message.purged_at.isoformat()
        mail.set_content(
            _("The content of this message was purged on %(date)s.") % {"date": message.purged_at}
        )
        return mail.as_bytes()
    text, html = read_bodies(message)
    mail.set_content(text or "")
    if html:
        mail.add_alternative(html, subtype="html")
    for attachment in message.attachments.order_by("pk"):
        maintype, _slash, subtype = attachment.content_type.partition("/")
        mail.add_attachment(
            b"".join(open_attachment(attachment)),
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return mail.as_bytes()


def history(message):
    """Who the message reached, and what each recipient did with it."""
    recipients = [
        {
            "address": r.address,
            "notified_at": _time(r.notified_at),
            "first_opened_at": _time(r.first_opened_at),
            "last_opened_at": _time(r.last_opened_at),
            "opens": r.opens,
            "downloaded_at": _time(r.downloaded_at),
            "recalled_at": _time(r.recalled_at),
            "folder": r.folder,
        }
        for r in message.recipients.order_by("pk")
    ]
    events = [
        {
            "time": _time(e.at),
            "action": e.action,
            "by": e.user.email if e.user else None,
            "attachment": e.attachment.filename if e.attachment else None,
            "ip": e.ip,
            "detail": e.detail,
        }
        for e in message.access_events.select_related("user", "attachment").order_by("at", "pk")
    ]
    return {
        "message": str(message.public_id),
        "sender": message.sender,
        "subject": message.subject,
        "held_at": _time(message.created_at),
        "expires_at": _time(message.expires_at),
        "recalled_at": _time(message.revoked_at),
        "purged_at": _time(message.purged_at),
        "scan": message.scan,
        "recipients": recipients,
        "events": events,
    }


def _time(moment):
    return moment.isoformat() if moment else None


def export(actor, client, messages, sink, *, account=None):
    """Write the zip of `messages` to the file-like `sink`; returns how many. Checked and recorded."""
    if not audit.is_trusted(actor) and not (actor.is_active and actor.has_perm(EXPORT_MESSAGES)):
        raise Refused(_("You do not have the permission to export messages."))
    messages = list(messages.select_related("in_reply_to"))
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for message in messages:
            stem = f"{message.created_at:%Y%m%dT%H%M%S.%f}-{message.public_id}"
            archive.writestr(f"{stem}.eml", as_eml(message))
            archive.writestr(
                f"{stem}.history.json", json.dumps(history(message), indent=2, ensure_ascii=False)
            )
    with transaction.atomic():
        audit.record(
            audit.Event.MESSAGES_EXPORTED, actor=actor, client=client, subject=account,
            count=len(messages), messages=[str(m.public_id) for m in messages][:1000],
        )  # fmt: skip
    return len(messages)
