"""The intake's spool: the 250 comes after one durable INSERT; holding comes after, and loses nothing."""

import smtplib
from email.message import EmailMessage

import pytest
from django.test import Client

from messaging.intake import accept_mail
from messaging.models import Message, SpooledMail
from messaging.notify import deliver_due

from .helpers import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def a_mail(subject="Figures"):
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "staff@example.com", "client@outside.example", subject
    mail.set_content("The figures.")
    return mail.as_bytes()


def test_mail_spooled_before_a_crash_is_held_and_notified_by_the_worker(mailbox):
    spooled = accept_mail("staff@example.com", ["client@outside.example"], a_mail(), "192.0.2.10")
    assert not Message.objects.exists()  # the intake stopped before it held it (a crash, a lost session)
    assert b"The figures." not in bytes(SpooledMail.objects.get().raw)  # encrypted while it waits
    deliver_due()
    message = Message.objects.get()
    assert message.public_id == spooled.public_id and message.subject == "Figures"
    assert not SpooledMail.objects.exists()
    assert mailbox.wait_for(1)[0]["To"] == "client@outside.example"


def test_the_intake_holds_its_sessions_mail_when_the_server_says_quit(intake):
    with smtplib.SMTP("127.0.0.1", intake) as smtp:
        for number in range(3):
            smtp.sendmail("staff@example.com", ["client@outside.example"], a_mail(f"Part {number}"))
        assert SpooledMail.objects.count() + Message.objects.count() == 3
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["Part 0", "Part 1", "Part 2"]
    assert not SpooledMail.objects.exists()


def test_mail_that_cannot_be_held_is_kept_shown_and_not_retried_for_ever(make_user):
    spooled = accept_mail("staff@example.com", ["client@outside.example"], a_mail())
    SpooledMail.objects.filter(pk=spooled.pk).update(rcpt_tos=["not an address"])
    deliver_due()
    deliver_due()
    row = SpooledMail.objects.get()
    assert row.failed_at and row.attempts == 1 and "ValidationError" in row.last_error
    assert not Message.objects.exists()
    make_user("admin@example.com", is_staff=True, is_superuser=True)
    admin = Client()
    log_in(admin, "admin@example.com", "correct horse battery")
    page = admin.get("/admin/messaging/spooledmail/").content.decode()
    assert "staff@example.com" in page and "ValidationError" in page
    SpooledMail.objects.filter(pk=row.pk).update(rcpt_tos=["client@outside.example"])
    admin.post("/admin/messaging/spooledmail/", {"action": "try_again", "_selected_action": [row.pk]})
    deliver_due()
    assert Message.objects.get().public_id == spooled.public_id
