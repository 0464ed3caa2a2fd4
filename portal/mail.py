"""The portal's emails: plain text and HTML from templates, and how sending them is retried.

Nothing is sent while a page is answered: pages write an outbox row (a Notification, a
PasswordHelpRequest) and the worker `worker` sends it, again later while the
relay refuses. So a page takes the same time whether or not it sent something, and an outage
of the relay loses nothing.
"""

import contextvars
import logging
import smtplib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from . import branding, dkim, metrics

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


_when_sent = contextvars.ContextVar("portal_mail_when_sent", default=None)


def lease():
    """How long a claimed row is left to the worker that claimed it: its exchange with the relay takes at
    most EMAIL_TIMEOUT to connect and as much again in all; a worker that died meanwhile leaves the row
    to the next one after this."""
    return timedelta(seconds=3 * settings.EMAIL_TIMEOUT)


def when_sent(write):
    """What building an email would change (a link token, a temporary password, a code's hash): done by
    `write()` only once the relay has taken the email, with the row marked sent, in one transaction. So
    a relay that refuses changes nothing, and no transaction is open while the relay is talked to."""
    writes = _when_sent.get()
    if writes is None:
        write()  # built outside an outbox (a command, a test): nothing to wait for
    else:
        writes.append(write)


def send_within_deadline(email):
    """Send one email; the exchange with the relay as a whole takes at most EMAIL_TIMEOUT seconds (a relay
    that answers a byte at a time is cut off then, instead of holding the worker)."""
    connection = email.get_connection()
    email.connection = connection
    connection.open()
    sock = getattr(getattr(connection, "connection", None), "sock", None)
    deadline = threading.Timer(settings.EMAIL_TIMEOUT, _cut_off, [sock]) if sock is not None else None
    if deadline is not None:
        deadline.start()
    try:
        sent = connection.send_messages([email])
    finally:
        if deadline is not None:
            deadline.cancel()
        try:
            connection.close()
        except SEND_ERRORS:
            pass
    if sent == 0:  # Django's SMTP backend reports a failure it was told to keep silent as 0
        raise smtplib.SMTPException("the relay did not take the email")


def _relay_reply(error):
    """What the relay answered, for the log line: '553 5.7.1 Sender address rejected' ('' without one)."""
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        return f"{error.smtp_code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"[:300]
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
        return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"[:300]
    return ""


def _cut_off(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def send_from_outbox(row, compose, after_sent=None):
    """Send the email of an outbox row claimed by the caller: True when done, False when it must wait.

    `compose(row)` builds the email (or None: nothing to send any more) and says through `when_sent` what
    it would change; those changes, `after_sent(row)` and the row's `sent_at` are written together once
    the relay has taken it. The row has attempts, next_attempt_at, sent_at, last_error.
    """
    now = timezone.now()
    row.attempts += 1
    writes = []
    token = _when_sent.set(writes)
    try:
        email = compose(row)
    finally:
        _when_sent.reset(token)
    try:
        if email is not None:
            send_within_deadline(email)
    except SEND_ERRORS as error:
        row.next_attempt_at = now + retry_delay(row.attempts)
        row.last_error = f"{type(error).__name__}: {error}"[:500]
        row.save(update_fields=["attempts", "next_attempt_at", "last_error"])
        log.warning(
            "event=email_deferred outbox=%s id=%s attempts=%d error=%s reply=%s",
            row._meta.model_name,
            row.pk,
            row.attempts,
            type(error).__name__,
            _relay_reply(error) or "-",
        )
        return False
    with transaction.atomic():
        for write in writes:
            write()
        row.sent_at, row.last_error = now, ""
        row.save()
        if after_sent is not None:
            after_sent(row)
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

    def _claim(self, pk):
        """Take one due row for this worker (a short transaction): other workers skip it for `lease()`."""
        with transaction.atomic():
            row = (
                self.model.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related(*self.related)
                .filter(pk=pk, sent_at__isnull=True, next_attempt_at__lte=timezone.now())
                .first()
            )
            if row is not None:
                self.model.objects.filter(pk=pk).update(next_attempt_at=timezone.now() + lease())
            return row

    def deliver(self, pk):
        """Send one row's email if it is still due: True when sent, False when it must wait. Claimed, then
        built and sent with no transaction open, then recorded."""
        row = self._claim(pk)
        if row is None:
            return False  # sent meanwhile, or another worker has it
        return send_from_outbox(row, self.compose, self.after_sent)

    def deliver_due(self, limit=200):
        """Send every email of this outbox that is due now; returns how many went out."""
        due = self.model.objects.filter(sent_at__isnull=True, next_attempt_at__lte=timezone.now())
        return sum(self.deliver(pk) for pk in due.values_list("pk", flat=True)[:limit])


OUTBOXES = []  # every kind of outbox row; each app registers its own when it is ready


def register_outbox(outbox):
    OUTBOXES.append(outbox)
    model = outbox.model
    metrics.watch_queue(
        model._meta.model_name,
        lambda: model.objects.filter(sent_at__isnull=True, next_attempt_at__isnull=False),
    )
    return outbox


def deliver_all(limit=200):
    """Send every email that is due now, of every outbox; returns how many went out (the worker's round)."""
    return sum(outbox.deliver_due(limit) for outbox in OUTBOXES)
