"""The notification outbox: while the relay is down nothing is lost; once back, each email goes once."""

import io
import logging

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from messaging.models import Notification, Recipient
from messaging.notify import deliver_due

from .conftest import Mailbox
from .helpers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_relay_outage_loses_nothing_and_every_notification_goes_out_exactly_once(
    hold_message, mailbox, settings
):
    settings.NOTIFICATION_RETRY_SECONDS = 0  # retry at once, for the test
    mailbox.go_down()
    hold_message(["one@outside.example", "two@outside.example", "three@outside.example"])
    assert deliver_due() == 0
    assert deliver_due() == 0
    pending = Notification.objects.filter(sent_at__isnull=True)
    assert pending.count() == 6
    assert all(n.attempts == 2 and "Error" in n.last_error for n in pending)
    assert not Recipient.objects.exclude(token_hash="").exists()  # no link exists without its email

    mailbox.come_back()
    assert deliver_due() == 6
    assert deliver_due() == 0
    mailbox.wait_for(6)
    for address in ("one@outside.example", "two@outside.example", "three@outside.example"):
        subjects = sorted(m["Subject"] for m in mailbox.to(address))
        assert subjects == [
            "You have a secure message from sender@example.com",
            "Your temporary password for reading secure messages",
        ]
    assert len(mailbox.messages) == 6
    assert not Notification.objects.filter(sent_at__isnull=True).exists()


def test_failed_attempts_back_off(hold_message, mailbox, settings):
    settings.NOTIFICATION_RETRY_SECONDS = 30
    mailbox.go_down()
    hold_message(["one@outside.example"])
    deliver_due()
    first = Notification.objects.filter(kind="new_message").get()
    assert 25 < (first.next_attempt_at - first.created_at).total_seconds() < 40
    assert deliver_due() == 0  # not due yet: no second try at once
    assert Notification.objects.get(pk=first.pk).attempts == 1


def test_the_worker_command_delivers_what_is_due(hold_message, mailbox):
    hold_message(["one@outside.example"])
    out = io.StringIO()
    call_command("worker", "--once", stdout=out)
    assert "count=2" in out.getvalue()
    assert len(mailbox.wait_for(2)) == 2


def test_a_second_message_to_a_recipient_with_a_pending_password_sends_no_new_one(hold_message, mailbox):
    hold_message(["one@outside.example"])
    deliver_due()
    hold_message(["one@outside.example"], sender=User.objects.get(email="sender@example.com"))
    deliver_due()
    mailbox.wait_for(3)
    subjects = [m["Subject"] for m in mailbox.messages]
    assert subjects.count("Your temporary password for reading secure messages") == 1
    assert subjects.count("You have a secure message from sender@example.com") == 2


class StrictRelay(Mailbox):
    """A relay that takes mail only from senders of its own domain, as a strict one does."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if not address.endswith("@corp.example"):
            return "553 5.7.1 Sender address rejected: not owned by user"
        envelope.mail_from = address
        return "250 OK"


def test_a_relay_that_refuses_the_sender_is_logged_with_its_reply(settings, hold_message, caplog):
    relay = StrictRelay()
    relay.start(free_port())
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", relay.port
    settings.DEFAULT_FROM_EMAIL = "Secure portal <portal@elsewhere.example>"
    try:
        hold_message(["client@outside.example"])
        with caplog.at_level(logging.WARNING, logger="portal.mail"):
            assert deliver_due() == 0
        assert (
            "error=SMTPSenderRefused reply=553 5.7.1 Sender address rejected: not owned by user"
            in caplog.text
        )
        assert Notification.objects.filter(sent_at=None).exclude(last_error="").exists()  # kept, to retry
        settings.DEFAULT_FROM_EMAIL = "Secure portal <portal@corp.example>"
        Notification.objects.update(next_attempt_at=timezone.now())
        assert deliver_due() >= 1 and relay.messages
    finally:
        relay.controller.stop()
