"""`hold()`: the one way a message enters the portal, whatever its source."""

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

import nh3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import User, normalize_address
from portal import audit

from . import crypto, purging, scanning
from .models import QUARANTINED, Attachment, Message, Notification, Recipient, ScanState
from .storage import open_blob

log = logging.getLogger("portal.messaging")

# HTML bodies keep their formatting but load nothing from elsewhere: no media or frames, no styles.
# Images stay only as the message's own inline parts (cid:), which the portal serves itself.
_BLOCKED_TAGS = {"picture", "source", "video", "audio", "iframe", "object", "embed", "map", "area"}
ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) - _BLOCKED_TAGS | {"img"}


def _only_inline_images(tag, attribute, value):
    if tag == "img" and attribute == "src" and not value.lower().startswith("cid:"):
        return None  # a remote image would tell its sender when, where and by whom the mail was read
    return value


def sanitise_html(html):
    """HTML safe to show inside the portal's page (nh3/ammonia, links open without a referrer)."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        url_schemes={"http", "https", "mailto", "cid"},
        attribute_filter=_only_inline_images,
        link_rel="noopener noreferrer nofollow",
    )


@dataclass
class IncomingAttachment:
    """An attachment on its way in: a binary file read once, in chunks."""

    filename: str
    content_type: str
    file: BinaryIO
    content_id: str = ""
    received: tuple = ()  # (size, SHA-256) of the file as it came: what is stored must be the same


class NotWhole(Exception):
    """What would be stored of an attachment is not the file as received: nothing is held (the intake's
    spool keeps the mail and tries again; an upload is refused)."""


def _note_received(incoming):
    """Its size and digest as received, read from the start in chunks."""
    digest, size = hashlib.sha256(), 0
    incoming.file.seek(0)
    while block := incoming.file.read(crypto.CHUNK):
        digest.update(block)
        size += len(block)
    incoming.file.seek(0)
    incoming.received = (size, digest.hexdigest())


# Control characters (NUL above all: PostgreSQL refuses it in text) have no place in a subject or a file
# name; CR and LF would split a header. Each becomes a space; tabs too, in a one-line field.
_CONTROLS = {code: " " for code in [*range(0x00, 0x20), 0x7F]}


def one_line(text, limit):
    """A subject or file name as it can be kept and shown: no control characters, at most `limit` long."""
    return (text or "").translate(_CONTROLS).strip()[:limit]


def clean_addresses(addresses):
    """Recipients lower-cased, checked and without repeats, in their order."""
    cleaned = []
    for address in addresses:
        address = normalize_address(address)
        validate_email(address)
        if address not in cleaned:
            cleaned.append(address)
    if not cleaned:
        raise ValidationError("A message needs at least one recipient.")
    return cleaned


def recipient_user(address, language=""):
    """The account an address reads its messages with: found by address or alias, else a new external one
    (whose emails are written in `language`, when the sender says which)."""
    user, _alias = User.objects.find_by_address(address)
    if user is None:
        user = account_actions.create_account(
            audit.SYSTEM, None, address, kind=User.Kind.EXTERNAL, language=language
        )
    return user


def needs_credentials(user):
    """A first-time external recipient gets a temporary password by a second email."""
    return user.is_external and not user.has_usable_password()


def _store_attachment(message, key, incoming, finding=""):
    attachment = Attachment(
        message=message,
        filename=one_line(incoming.filename, 255) or "attachment",
        content_type=one_line(incoming.content_type, 255) or "application/octet-stream",
        content_id=one_line(incoming.content_id, 255),
        finding=finding[:255],
    )
    blob = f"messages/{message.public_id}/{attachment.public_id.hex}.bin"
    with tempfile.TemporaryFile() as encrypted:
        incoming.file.seek(0)  # the whole file, wherever a scanner that gave up left it
        attachment.size, attachment.sha256 = crypto.encrypt_stream(
            key, incoming.file, encrypted, attachment.crypto_context()
        )
        if incoming.received and (attachment.size, attachment.sha256) != incoming.received:
            log.error(
                "event=attachment_not_whole message=%s received=%d stored=%d",
                message.public_id, incoming.received[0], attachment.size,
            )  # fmt: skip
            raise NotWhole(f"{attachment.filename}: {attachment.size} of {incoming.received[0]} bytes")
        encrypted.seek(0)
        attachment.blob = default_storage.save(blob, File(encrypted))
    attachment.save()
    return attachment


# What a person uploads in the portal is refused when it holds malware or cannot be checked (they are on
# the page to hear it); mail from the intake or the API is kept: quarantined, or waiting for the scanner.
UPLOADS = {Message.Source.COMPOSE, Message.Source.REPLY}


# Where the sender waits for the answer, a file clamd will never scan (past its limits) is refused; mail
# the intake already accepted is held in quarantine for the administrators to review.
REFUSE_UNSCANNABLE = UPLOADS | {Message.Source.API}
TOO_LARGE_FINDING = "not scanned: larger than the malware scanner accepts"


def _scan(attachments, source):
    """(ScanState, {index of an attachment: what clamd found}) before anything is stored. Each file's
    size and digest as received are noted first: what is stored is checked against them."""
    for incoming in attachments:
        _note_received(incoming)
    if not attachments or not scanning.enabled():
        return ScanState.CLEAN, {}
    found, too_large = {}, []
    try:
        for index, incoming in enumerate(attachments):
            incoming.file.seek(0)
            try:
                signature = scanning.scan_stream(incoming.file)
            except scanning.TooLarge:
                too_large.append(index)  # a verdict for this file; the others are still scanned
                continue
            finally:
                incoming.file.seek(0)
            if signature:
                found[index] = signature
    except scanning.Unavailable:
        if source in UPLOADS:
            raise
        log.warning("event=scan_deferred source=%s attachments=%d", source, len(attachments))
        return ScanState.PENDING, {}
    if found and source in UPLOADS:
        raise scanning.Infected([scanning.Finding(attachments[i].filename, s) for i, s in found.items()])
    if found:
        return ScanState.INFECTED, found
    if too_large:
        names = ", ".join(attachments[i].filename for i in too_large)
        log.warning("event=scan_too_large source=%s files=%d", source, len(too_large))
        if source in REFUSE_UNSCANNABLE:
            raise scanning.TooLarge(names)
        return ScanState.TOO_LARGE, dict.fromkeys(too_large, TOO_LARGE_FINDING)
    return ScanState.CLEAN, {}


def _refuse_if_too_large(message):
    """With SCAN_TOO_LARGE=refuse, mail whose file clamd will never read keeps no content: deleted once
    the message is committed (its envelope, finding and the sender's notice stay)."""
    if message.scan == ScanState.TOO_LARGE and settings.SCAN_TOO_LARGE == scanning.REFUSE:
        transaction.on_commit(
            lambda: purging.purge_content(audit.SYSTEM, None, message, reason="too_large_to_scan")
        )


def _notifications(recipients):
    """The outbox rows that tell each recipient (and a first-time one their credentials)."""
    outbox = []
    for recipient in recipients:
        outbox.append(Notification(kind=Notification.Kind.NEW_MESSAGE, recipient=recipient))
        if needs_credentials(recipient.user):
            outbox.append(Notification(kind=Notification.Kind.CREDENTIALS, recipient=recipient))
    return outbox


def _quarantine(message, recipients, findings, actor, client):
    """Malware: nobody is notified, nobody opens it; its sender is told which file and what was found."""
    message.finding = "; ".join(f"{name}: {signature}" for name, signature in findings)[:500]
    Notification.objects.create(kind=Notification.Kind.MALWARE_NOTICE, recipient=recipients[0])
    audit.record(
        audit.Event.MESSAGE_QUARANTINED, actor=actor, client=client, message=message,
        files=[name for name, _signature in findings], signatures=[s for _name, s in findings],
    )  # fmt: skip


def hold(
    *,
    sender,
    recipients,
    source,
    subject="",
    text="",
    html="",
    attachments=(),
    kind=Message.Kind.SECURE,
    sender_user=None,
    expires_at=None,
    allow_reply=True,
    read_receipt=False,
    restricted=False,
    in_reply_to=None,
    shown_recipients=None,
    client=None,
    public_id=None,
    language="",
    actor=None,
):
    """Hold a message for its recipients and queue their notifications; all or nothing.

    `shown_recipients` are the addresses its recipients may see (To and Cc); by default all of them.
    Mail from the intake names them in its headers, so that blind copies stay blind. `client`: where
    it came from (portal.client.Client), and `actor` who held it (by default its sender), for the audit trail.

    Attachments are scanned for malware first (messaging.scanning). An upload (compose, reply) with
    malware or that cannot be checked raises `scanning.Infected` or `scanning.Unavailable` and nothing is
    kept; other mail is held quarantined (its sender told), or waiting for the scanner (nobody notified
    until `scan_waiting` has scanned it). A file past clamd's limits is never taken for clean: refused
    (`scanning.TooLarge`) where the sender waits for the answer, else held in quarantine.
    """
    addresses = clean_addresses(recipients)
    attachments = list(attachments)
    scan, found = _scan(attachments, source)
    key, kek_id, wrapped = crypto.new_message_key()
    stored = []
    try:
        with transaction.atomic():
            message = Message(
                kind=kind,
                sender=normalize_address(sender),
                sender_user=sender_user,
                subject=one_line(subject, 998),
                shown_recipients=addresses if shown_recipients is None else shown_recipients,
                key_id=kek_id,
                wrapped_key=wrapped,
                source=source,
                allow_reply=allow_reply,
                read_receipt=read_receipt,
                restricted=restricted,
                in_reply_to=in_reply_to,
                scan=scan,
                **({"public_id": public_id} if public_id is not None else {}),
                scanned_at=timezone.now()
                if attachments and scanning.enabled() and scan != ScanState.PENDING
                else None,
            )
            if expires_at is not None:
                message.expires_at = expires_at
            message.search_text = message.searchable()
            context = message.crypto_context()
            message.body_text = crypto.seal(key, (text or "").encode(), context + b":text")
            message.body_html = crypto.seal(key, sanitise_html(html).encode(), context + b":html")
            message.save()
            for index, incoming in enumerate(attachments):
                stored.append(_store_attachment(message, key, incoming, found.get(index, "")).blob)
            copies = [
                Recipient.objects.create(
                    message=message, address=address, user=recipient_user(address, language)
                )
                for address in addresses
            ]
            if scan == ScanState.CLEAN:
                Notification.objects.bulk_create(_notifications(copies))
            audit.record(
                audit.Event.MESSAGE_HELD,
                actor=actor or sender_user or normalize_address(sender),
                client=client,
                message=message,
                source=source,
                kind=kind,
                recipients=len(addresses),
                attachments=len(stored) or None,
                in_reply_to=str(in_reply_to.public_id) if in_reply_to is not None else None,
                scan=scan if scan != ScanState.CLEAN else None,
            )
            if scan in QUARANTINED:
                findings = [(attachments[i].filename, signature) for i, signature in found.items()]
                _quarantine(message, copies, findings, audit.SYSTEM, client)
                message.save(update_fields=["finding"])
                _refuse_if_too_large(message)

    except BaseException:
        for blob in stored:  # nothing half-held is left behind
            default_storage.delete(blob)
        raise
    log.info(
        "event=message_held source=%s kind=%s recipients=%d attachments=%d",
        source,
        kind,
        len(addresses),
        len(stored),
    )
    return message


def _scan_stored(attachment):
    """What clamd finds in a stored attachment ('' clean, TOO_LARGE_FINDING when it will never scan it)."""
    try:
        return scanning.scan_chunks(open_attachment(attachment))
    except scanning.TooLarge:
        return TOO_LARGE_FINDING


def scan_waiting(limit=20):
    """The worker's round: scan the held mail that waits for the scanner, oldest first; notify its
    recipients when clean, quarantine it when not (malware, or a file clamd will never scan). A message
    clamd fails on is left for the next round without holding up the ones behind it; the round stops
    only when clamd cannot be reached at all. Returns how many were scanned."""
    done = 0
    waiting = Message.objects.filter(scan=ScanState.PENDING).order_by("created_at", "pk")
    for message in waiting[:limit]:
        attachments = list(message.attachments.order_by("pk"))
        try:
            found = {a.pk: _scan_stored(a) for a in attachments}
        except scanning.Unreachable as error:
            log.warning("event=scan_waiting_deferred message=%s error=%s", message.public_id, error)
            break
        except scanning.Unavailable as error:
            log.warning("event=scan_waiting_failed message=%s error=%s", message.public_id, error)
            continue
        with transaction.atomic():
            locked = Message.objects.select_for_update().filter(pk=message.pk, scan=ScanState.PENDING).first()
            if locked is None:
                continue  # another worker scanned it meanwhile
            copies = list(locked.recipients.select_related("user").order_by("pk"))
            flagged = [(a.filename, found[a.pk]) for a in attachments if found[a.pk]]
            for attachment in attachments:
                if found[attachment.pk]:
                    Attachment.objects.filter(pk=attachment.pk).update(finding=found[attachment.pk][:255])
            if any(finding != TOO_LARGE_FINDING for _name, finding in flagged):
                locked.scan = ScanState.INFECTED
            else:
                locked.scan = ScanState.TOO_LARGE if flagged else ScanState.CLEAN
            locked.scanned_at = timezone.now()
            if flagged:
                _quarantine(locked, copies, flagged, audit.SYSTEM, None)
            else:
                Notification.objects.bulk_create(_notifications(copies))
            locked.save(update_fields=["scan", "scanned_at", "finding"])
            if flagged:
                _refuse_if_too_large(locked)
        done += 1
    return done


def read_bodies(message):
    """The decrypted (text, html) of a message."""
    key = crypto.unwrap(message.key_id, message.wrapped_key)
    context = message.crypto_context()
    text = crypto.open_sealed(key, message.body_text, context + b":text").decode()
    html = crypto.open_sealed(key, message.body_html, context + b":html").decode()
    return text, html


def open_attachment(attachment):
    """The attachment's plaintext chunks, as an iterator; its key is unwrapped at once (a key this process
    does not hold fails here, before any answer has begun), the file is closed when it ends."""
    key = crypto.unwrap(attachment.message.key_id, attachment.message.wrapped_key)
    return _chunks(key, attachment)


def _chunks(key, attachment):
    with open_blob(attachment.blob) as source:
        yield from crypto.decrypt_stream(key, source, attachment.crypto_context())
