"""A message's content deleted, its envelope kept: after its retention (the purge timer), by the sender's
control, or at once for a file the scanner will never read (SCAN_TOO_LARGE=refuse)."""

import logging

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter

from portal import audit

from .models import Attachment, LegalHold, Message

log = logging.getLogger("portal.messaging")
BLOBS_LEFT = Counter(
    "portal_purge_blobs_left",
    "Encrypted blobs a purge could not delete from the storage (unreadable: their key is gone)",
)


def purge_content(actor, client, message, *, reason):
    """Delete the bodies and attachments of `message` unless it is under legal hold (False then, or when
    it was purged already). The row is changed and the event recorded first, then the blobs are deleted:
    a crash between the two leaves a blob nobody can open (its key is gone with the row's), never a
    message that claims content it no longer has. The caller checks who may."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().filter(pk=message.pk, purged_at__isnull=True)
        if not LegalHold.objects.not_held(locked).exists():
            return False  # purged already, or under legal hold: kept
        blobs = list(Attachment.objects.filter(message=message).values_list("blob", flat=True))
        Attachment.objects.filter(message=message).delete()
        now = timezone.now()
        locked.update(body_text=b"", body_html=b"", purged_at=now)
        message.body_text = message.body_html = b""
        message.purged_at = now
        audit.record(
            audit.Event.MESSAGE_PURGED, actor=actor, client=client, message=message, reason=reason,
            attachments=len(blobs) or None,
        )  # fmt: skip
    for blob in blobs:
        try:
            default_storage.delete(blob)
        except Exception as error:  # the storage is down: the content is unreadable already (its key is gone)
            BLOBS_LEFT.inc()
            log.error(
                "event=purge_blob_failed message=%s blob=%s error=%s",
                message.public_id,
                blob,
                type(error).__name__,
            )
    return True
