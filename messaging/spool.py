"""The intake's spool: mail is committed as it came, in one INSERT, before the 250; it is held after.

What the envelope decides (the client allowed, the addresses valid, the size) is still answered before the
250. The raw message is encrypted under a key of its own (wrapped by PORTAL_KEKS, as a message's is). The
notification worker holds spooled mail at every round, and the intake holds what its session spooled when
the sending server says QUIT, so mail is held at once without the 250 waiting for it. Holding deletes the
spooled row in the hold's transaction: a crash between the two loses nothing and holds nothing twice.
"""

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import crypto
from .holding import clean_addresses
from .models import SpooledMail

log = logging.getLogger("portal.intake")

GIVE_UP_AFTER = 12  # tries, over about a day with the doubling delays below
FIRST_RETRY = timedelta(seconds=30)


def spool(mail_from, rcpt_tos, raw, peer=""):
    """Commit one received message; raises ValidationError for a recipient address that cannot be read
    (the intake answers 553 and keeps nothing)."""
    clean_addresses(rcpt_tos)
    key, kek_id, wrapped = crypto.new_message_key()
    row = SpooledMail(mail_from=mail_from or "", rcpt_tos=list(rcpt_tos), peer=peer or None, size=len(raw))
    row.key_id, row.wrapped_key = kek_id, wrapped
    row.raw = crypto.seal(key, raw, row.crypto_context())
    row.save()
    return row


def raw_of(row):
    key = crypto.unwrap(row.key_id, bytes(row.wrapped_key))
    return crypto.open_sealed(key, bytes(row.raw), row.crypto_context())


def hold_spooled(pk, hold_mail):
    """Hold one spooled message with `hold_mail(mail_from, rcpt_tos, raw, public_id=...)` and delete its
    row, in one transaction; None when another process has it or held it already."""
    try:
        with transaction.atomic():
            row = (
                SpooledMail.objects.select_for_update(skip_locked=True).filter(pk=pk, failed_at=None).first()
            )
            if row is None:
                return None
            message = hold_mail(row.mail_from, row.rcpt_tos, raw_of(row), public_id=row.public_id)
            row.delete()
    except Exception as error:  # noqa: BLE001  (kept, counted, tried again later; never lost)
        _failed(pk, error)
        return None
    log.info("event=spool_held message=%s", message.public_id)
    return message


def _failed(pk, error):
    row = SpooledMail.objects.filter(pk=pk).first()
    if row is None:
        return
    row.attempts += 1
    row.last_error = f"{type(error).__name__}: {error}"[:500]
    permanent = isinstance(error, ValidationError)
    if permanent or row.attempts >= GIVE_UP_AFTER:
        row.failed_at = timezone.now()
        log.error(
            "event=spool_given_up spooled=%s attempts=%d error=%s", pk, row.attempts, type(error).__name__
        )
    else:
        row.next_attempt_at = timezone.now() + FIRST_RETRY * 2 ** (row.attempts - 1)
        log.warning(
            "event=spool_deferred spooled=%s attempts=%d error=%s", pk, row.attempts, type(error).__name__
        )
    row.save(update_fields=["attempts", "last_error", "failed_at", "next_attempt_at"])


def hold_due(hold_mail, limit=200):
    """The worker's round: hold every spooled message that is due; returns how many were held."""
    due = SpooledMail.objects.filter(failed_at=None, next_attempt_at__lte=timezone.now())
    return sum(
        hold_spooled(pk, hold_mail) is not None for pk in list(due.values_list("pk", flat=True)[:limit])
    )


def purge_given_up(before):
    """Mail the worker gave up holding (kept for the administrators to look at) is content like any other:
    gone PURGE_AFTER_DAYS after it was given up. Returns how many went."""
    count = SpooledMail.objects.filter(failed_at__lt=before).delete()[0]
    if count:
        log.info("event=spool_purged count=%d", count)
    return count
