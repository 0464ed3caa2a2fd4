"""Reading a held message: who may, what opening it records, how its inline images are shown."""

import html as html_lib
import re
from urllib.parse import unquote

from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from .models import AccessEvent, Notification, Recipient
from .tokens import hash_token, looks_like_token


def recipient_for_token(token):
    """The recipient a link token belongs to, or None (wrong shape, tampered, unknown)."""
    if not looks_like_token(token):
        return None
    return (
        Recipient.objects.select_related("message__sender_user", "user")
        .filter(token_hash=hash_token(token), message__purged_at__isnull=True)
        .first()
    )


def sender_display(message):
    """The sender as a person recognises them: 'Sue Sender <sue@example.com>', or the address alone."""
    name = message.sender_user.name if message.sender_user else ""
    return f"{name} <{message.sender}>" if name else message.sender


def shown_recipients(message, recipient):
    """The To line a recipient sees: the addresses the message names, else only their own."""
    return message.shown_recipients or [recipient.address]


def mask_address(address):
    """j***@example.com: enough for the person to recognise, not enough to learn it."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def record_open(reader, client, message, recipient):
    """An open: logged every time; a recipient's copy becomes read and counts it (the first one also
    asks for the read receipt)."""
    if recipient is None:
        AccessEvent.record(reader, client, message, AccessEvent.Action.OPEN)
        return
    now = timezone.now()
    first = recipient.first_opened_at is None
    with transaction.atomic():  # one commit for the audit row and the reader's copy
        AccessEvent.record(reader, client, message, AccessEvent.Action.OPEN)
        Recipient.objects.filter(pk=recipient.pk).update(
            unread=False,
            opens=F("opens") + 1,
            last_opened_at=now,
            first_opened_at=Coalesce("first_opened_at", now),
        )
        if first and message.read_receipt:
            # Only the request that set first_opened_at sends the receipt, even when two opens race.
            claimed = Recipient.objects.filter(pk=recipient.pk, first_opened_at=now).exists()
            if claimed:
                Notification.objects.create(recipient=recipient, kind=Notification.Kind.READ_RECEIPT)


def downloads_by_recipient(message, recipients):
    """For the sender: each recipient's downloads, file by file: {recipient id: [(file name, times)]}."""
    counted = (
        AccessEvent.objects.filter(
            message=message, action=AccessEvent.Action.DOWNLOAD, attachment__isnull=False
        )
        .values("user_id", "attachment__filename", "attachment_id")
        .annotate(times=Count("id"))
        .order_by("attachment_id")
    )
    by_user = {}
    for row in counted:
        by_user.setdefault(row["user_id"], []).append((row["attachment__filename"], row["times"]))
    return {r.pk: by_user.get(r.user_id, []) for r in recipients}


def record_download(reader, client, message, recipient, attachment):
    """A download: logged every time; a recipient's first one is shown to the sender as 'downloaded'."""
    AccessEvent.record(reader, client, message, AccessEvent.Action.DOWNLOAD, attachment=attachment)
    if recipient is not None and recipient.downloaded_at is None:
        Recipient.objects.filter(pk=recipient.pk, downloaded_at__isnull=True).update(
            downloaded_at=timezone.now()
        )


# Raster images only: an SVG can carry script, and browsers sniff less of these.
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
# One blank before the attribute, not a run of them: a pattern that starts with a run of blanks tries
# the run again from each of its characters, and 40,000 blanks took seconds.
_CID_SOURCE = re.compile(r'\ssrc="cid:([^"]*)"', re.IGNORECASE)


def show_inline_images(body, message, attachments):
    """Point each cid: image of a (sanitised) body at the portal's copy of that part; drop the rest."""
    parts = {a.content_id: a for a in attachments if a.content_id and a.content_type in INLINE_IMAGE_TYPES}

    def source(match):
        part = parts.get(unquote(html_lib.unescape(match.group(1))))
        if part is None:
            return ""
        url = reverse("messaging:inline_image", args=[message.public_id, part.public_id])
        return f' src="{url}"'

    return _CID_SOURCE.sub(source, body)
