"""The portal's emails: plain text and HTML from templates, and how sending them is retried.

Nothing is sent while a page is answered: pages write an outbox row (a Notification, a
PasswordHelpRequest) and the worker `deliver_notifications` sends it, again later while the
relay refuses. So a page takes the same time whether or not it sent something, and an outage
of the relay loses nothing.
"""

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from . import branding, dkim

log = logging.getLogger("portal.mail")
SEND_ERRORS = (smtplib.SMTPException, OSError)


def build_email(to, template, context, language="", look=None, worded=None):
    """An email from templates/emails/<template>.{subject.txt,txt,html}, in the recipient's language
    (else the organisation's), under the organisation's branding: the From name, texts, footer.

    `worded(look)` adds to the context what must be written in that language (dates in the
    organisation's own texts)."""
    look = look or branding.current()
    with translation.override(language or settings.LANGUAGE_CODE):
        context = {"portal_url": settings.PORTAL_BASE_URL, "branding": look, **context}
        if worded is not None:
            context.update(worded(look))

        subject = " ".join(render_to_string(f"emails/{template}.subject.txt", context).split())
        text = render_to_string(f"emails/{template}.txt", context)
        html = render_to_string(f"emails/{template}.html", context)
    sender = formataddr((look.name, parseaddr(settings.DEFAULT_FROM_EMAIL)[1]))
    message = SignedEmail(subject, text, sender, [to])
    message.attach_alternative(html, "text/html")
    return message


class SignedEmail(EmailMultiAlternatives):
    """An email that carries a DKIM signature when DKIM_* is set (portal.dkim)."""

    def message(self, **kwargs):
        return dkim.sign(super().message(**kwargs))


def retry_delay(attempts):
    """After a failed attempt: NOTIFICATION_RETRY_SECONDS, doubling, at most an hour."""
    return timedelta(seconds=min(settings.NOTIFICATION_RETRY_SECONDS * 2 ** (attempts - 1), 3600))


def send_from_outbox(row, compose):
    """Send the email of an outbox row locked by the caller: True when done, False when it must wait.

    `compose(row)` builds the email (or None: nothing to send any more). Building and sending share
    a savepoint, so what building changed (a temporary password issued, a link token made) is kept
    only if the relay accepted the email. The row has attempts, next_attempt_at, sent_at, last_error.
    """
    now = timezone.now()
    row.attempts += 1
    try:
        with transaction.atomic():
            email = compose(row)
            if email is not None:
                email.send()
    except SEND_ERRORS as error:
        row.next_attempt_at = now + retry_delay(row.attempts)
        row.last_error = f"{type(error).__name__}: {error}"[:500]
        row.save()
        log.warning(
            "event=email_deferred outbox=%s id=%s attempts=%d error=%s",
            row._meta.model_name,
            row.pk,
            row.attempts,
            type(error).__name__,
        )
        return False
    row.sent_at, row.last_error = now, ""
    row.save()
    log.info("event=email_sent outbox=%s id=%s", row._meta.model_name, row.pk)
    return True


@dataclass(frozen=True)
class Outbox:
    """One kind of outbox row (notifications, password help, sign-in codes): its model, what to load with
    it, how to build its email, and what else changes once it went (in the same transaction)."""

    model: type
    compose: Callable
    related: tuple = ()
    after_sent: Callable = None

    def deliver(self, pk):
        """Send one row's email if it is still due: True when sent, False when it must wait."""
        with transaction.atomic():
            row = (
                self.model.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related(*self.related)
                .filter(pk=pk, sent_at__isnull=True, next_attempt_at__isnull=False)
                .first()
            )
            if row is None:
                return False  # sent meanwhile, or another worker has it
            if not send_from_outbox(row, self.compose):
                return False
            if self.after_sent is not None:
                self.after_sent(row)
            return True

    def deliver_due(self, limit=200):
        """Send every email of this outbox that is due now; returns how many went out."""
        due = self.model.objects.filter(sent_at__isnull=True, next_attempt_at__lte=timezone.now())
        return sum(self.deliver(pk) for pk in due.values_list("pk", flat=True)[:limit])


OUTBOXES = []  # every kind of outbox row; each app registers its own when it is ready


def register_outbox(outbox):
    OUTBOXES.append(outbox)
    return outbox


def deliver_all(limit=200):
    """Send every email that is due now, of every outbox; returns how many went out (the worker's round)."""
    return sum(outbox.deliver_due(limit) for outbox in OUTBOXES)
