"""The mailbox: folders per reader, paging, search, reply all, the sender's controls, the intake's options."""

import io
import re
import smtplib
from datetime import timedelta
from email.message import EmailMessage

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from messaging.holding import IncomingAttachment
from messaging.models import AccessEvent, Message, Recipient

from .conftest import body_text
from .helpers import log_in
from .test_messages import LINK, deliver

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(address, make_user):
    """A client signed in as a staff reader of that address (made one, if hold() made it external)."""
    from accounts.models import portal_permission

    user = User.objects.filter(email=address).first() or make_user(address)
    user.kind = User.Kind.INTERNAL
    user.set_password("correct horse battery")
    user.save()
    user.user_permissions.add(portal_permission())
    client = Client()
    log_in(client, address, "correct horse battery")
    return client


def page_text(response):
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def subjects(response):
    """The subjects listed in a folder page, in order."""
    return re.findall(r'<td><a href="/messages/[0-9a-f-]+/">([^<]*)</a></td>', response.content.decode())


def test_delete_moves_a_message_to_deleted_for_that_reader_only(make_user, hold_message):
    message = hold_message(["one@example.com", "two@example.com"], subject="Shared news")
    one, two = signed_in("one@example.com", make_user), signed_in("two@example.com", make_user)
    one.post("/messages/move/", {"message": message.public_id, "to": "deleted"})
    assert subjects(one.get("/")) == []
    assert subjects(one.get("/messages/deleted/")) == ["Shared news"]
    assert subjects(two.get("/")) == ["Shared news"]  # the other reader's copy is untouched
    one.post("/messages/move/", {"message": message.public_id, "to": "inbox"})
    assert subjects(one.get("/")) == ["Shared news"]
    one.post("/messages/move/", {"message": message.public_id, "to": "deleted"})
    one.post("/messages/deleted/empty/")
    assert subjects(one.get("/messages/deleted/")) == [] and subjects(one.get("/")) == []
    assert (
        one.get(f"/messages/{message.public_id}/").status_code == 200
    )  # gone from view, not from the record
    assert Recipient.objects.get(address="one@example.com").folder == "emptied"
    assert subjects(two.get("/")) == ["Shared news"]


def test_someone_elses_copy_cannot_be_moved(make_user, hold_message):
    message = hold_message(["one@example.com"])
    stranger = signed_in("stranger@example.com", make_user)
    moved = stranger.post("/messages/move/", {"message": message.public_id, "to": "deleted"}, follow=True)
    assert "0 messages are in Deleted." in page_text(moved)
    junk = {"message": ["not-an-id", str(message.public_id)], "to": "deleted"}
    assert stranger.post("/messages/move/", junk).status_code == 302
    assert (
        stranger.post("/messages/move/", {"message": message.public_id, "to": "emptied"}).status_code == 404
    )
    assert stranger.post(f"/messages/{message.public_id}/unread/").status_code == 404
    assert Recipient.objects.get().folder == "inbox"


def test_the_unread_count_shows_next_to_the_inbox_and_mark_as_unread_brings_it_back(make_user, hold_message):
    first = hold_message(["one@example.com"], subject="First")
    hold_message(["one@example.com"], subject="Second", sender=User.objects.get(email="sender@example.com"))
    reader = signed_in("one@example.com", make_user)
    assert "Inbox (2 unread)" in page_text(reader.get("/"))
    reader.get(f"/messages/{first.public_id}/")
    assert "Inbox (1 unread)" in page_text(reader.get("/"))
    reader.post(f"/messages/{first.public_id}/unread/")
    assert "Inbox (2 unread)" in page_text(reader.get("/"))
    assert reader.get("/messages/sent/").status_code == 200  # every reader has a Sent folder


def hold_many(sender, reader, count):
    """`count` messages to the reader, as fast as hold() makes them (subjects 'Message 000' ...)."""
    from messaging.holding import hold

    for i in range(count):
        hold(
            sender=sender.email,
            sender_user=sender,
            recipients=[reader],
            subject=f"Message {i:03d}" + (" invoice" if i % 10 == 0 else ""),
            source="compose",
        )


def test_folders_page_by_fifty_newest_first_with_previous_and_next(make_user):
    sender = make_user("sender@example.com")
    hold_many(sender, "one@example.com", 120)
    reader = signed_in("one@example.com", make_user)
    first = reader.get("/")
    assert subjects(first)[:2] == ["Message 119", "Message 118"] and len(subjects(first)) == 50
    older = re.search(r'href="\?before=(\d+)" rel="next"', first.content.decode()).group(1)
    assert 'rel="prev"' not in first.content.decode()
    second = reader.get("/", {"before": older})
    assert subjects(second)[0] == "Message 069" and len(subjects(second)) == 50
    third = reader.get(
        "/", {"before": re.search(r'before=(\d+)" rel="next"', second.content.decode()).group(1)}
    )

    assert subjects(third)[-1] == "Message 000 invoice" and len(subjects(third)) == 20
    assert 'rel="next"' not in third.content.decode()
    newer = re.search(r'href="\?after=(\d+)" rel="prev"', third.content.decode()).group(1)
    assert subjects(reader.get("/", {"after": newer})) == subjects(second)
    assert reader.get("/", {"before": "nonsense", "after": "-4"}).status_code == 200  # ignored, not a 500


def test_search_finds_by_sender_recipient_and_subject_and_keeps_paging(make_user, hold_message):
    sender = make_user("sender@example.com")
    hold_many(sender, "one@example.com", 120)
    other = make_user("auditor@elsewhere.example")
    hold_message(["one@example.com", "cc.person@partner.example"], sender=other, subject="Audit plan")
    reader = signed_in("one@example.com", make_user)
    assert subjects(reader.get("/", {"q": "ELSEWHERE"})) == ["Audit plan"]  # by sender, any case
    assert subjects(reader.get("/", {"q": "partner.example"})) == ["Audit plan"]  # by recipient
    found = reader.get("/", {"q": "invoice"})
    assert len(subjects(found)) == 12 and all("invoice" in s for s in subjects(found))
    assert "Message texts are encrypted and are not searched." in page_text(found)
    assert "No message matches your search." in page_text(reader.get("/", {"q": "zebra"}))
    # The sender's Sent folder searches by recipient and subject.
    assert (
        len(subjects(signed_in("sender@example.com", make_user).get("/messages/sent/", {"q": "one@"}))) == 50
    )


def test_a_folder_page_costs_the_same_queries_with_many_messages(make_user, hold_message):
    sender = make_user("sender@example.com")
    hold_many(sender, "one@example.com", 3)
    reader = signed_in("one@example.com", make_user)
    writer = signed_in("sender@example.com", make_user)

    def counts():
        with CaptureQueriesContext(connection) as inbox:
            reader.get("/", {"q": "Message"})
        with CaptureQueriesContext(connection) as sent:
            writer.get("/messages/sent/")
        return len(inbox), len(sent)

    few = counts()
    hold_many(sender, "one@example.com", 60)
    assert counts() == few


def test_reply_all_goes_to_the_sender_and_the_shown_addresses_never_a_blind_copy(
    make_user, hold_message, mailbox
):
    sender = make_user("sender@example.com", name="Sue Sender")
    original = hold_message(
        ["to.person@example.com", "cc.person@partner.example", "hidden@example.com"],
        sender=sender,
        subject="Budget",
        text="Line one\nLine two",
        shown_recipients=["to.person@example.com", "cc.person@partner.example"],
    )
    reader = signed_in("to.person@example.com", make_user)
    form = reader.get(f"/messages/{original.public_id}/reply-all/")
    assert "Your reply goes securely to sender@example.com, cc.person@partner.example." in page_text(form)
    reader.post(
        f"/messages/{original.public_id}/reply-all/",
        {"body": "Agreed.", "attachments": [io.BytesIO(b"notes")]},
    )
    reply = Message.objects.get(in_reply_to=original)
    assert sorted(reply.recipients.values_list("address", flat=True)) == [
        "cc.person@partner.example",
        "sender@example.com",
    ]
    from messaging.holding import read_bodies

    text, _html = read_bodies(reply)
    assert text == "Agreed."  # the reply holds what the reader wrote; the original is quoted when shown
    assert reply.attachments.count() == 1
    # The thread: the reply's page names the message it answers.
    cc = signed_in("cc.person@partner.example", make_user)
    page = page_text(cc.get(f"/messages/{reply.public_id}/"))
    assert "Earlier in this conversation" in page and "Budget" in page
    assert "sender@example.com wrote:" in page and "&gt; Line one &gt; Line two" in page
    hidden = signed_in("hidden@example.com", make_user)
    assert hidden.get(f"/messages/{reply.public_id}/").status_code == 404


def test_a_restricted_message_has_no_download_or_print_for_its_recipients(make_user, hold_message):
    sender = make_user("sender@example.com")
    message = hold_message(
        ["one@example.com"],
        sender=sender,
        restricted=True,
        attachments=[IncomingAttachment("plan.pdf", "application/pdf", io.BytesIO(b"the plan"))],
    )
    attachment = message.attachments.get()
    download = f"/messages/{message.public_id}/attachments/{attachment.public_id}/"
    reader = signed_in("one@example.com", make_user)
    page = reader.get(f"/messages/{message.public_id}/").content.decode()
    assert "plan.pdf" in page and download not in page and "/print/" not in page
    assert "it cannot be printed and its attachments cannot be downloaded" in page
    assert reader.get(download).status_code == 403
    assert reader.get(f"/messages/{message.public_id}/print/").status_code == 403
    writer = signed_in("sender@example.com", make_user)
    assert b"".join(writer.get(download).streaming_content) == b"the plan"
    assert "the plan" not in writer.get(f"/messages/{message.public_id}/print/").content.decode()
    assert writer.get(f"/messages/{message.public_id}/print/").status_code == 200
    assert not AccessEvent.objects.filter(action="download", user__email="one@example.com").exists()


def test_compose_offers_1_7_30_days_or_a_date_with_the_profiles_default_chosen(make_user, make_profile):
    make_profile("Short", domains="example.com", message_expiry_days=7)
    writer = signed_in("sender@example.com", make_user)
    form = writer.get("/messages/new/").content.decode()
    assert re.search(r'<input type="radio" name="expiry" value="7"[^>]*checked', form)
    fields = {"to": "a@outside.example", "subject": "S", "body": "B"}
    writer.post("/messages/new/", {**fields, "expiry": "1", "restricted": "on"})
    held = Message.objects.get()
    assert held.restricted and 0.99 < (held.expires_at - timezone.now()).total_seconds() / 86400 <= 1
    refused = writer.post("/messages/new/", {**fields, "expiry": "date", "expiry_date": "2001-01-01"})
    assert "Choose a date after today." in page_text(refused)
    day = timezone.localdate() + timedelta(days=10)
    writer.post("/messages/new/", {**fields, "expiry": "date", "expiry_date": day.isoformat()})
    latest = Message.objects.order_by("-pk").first()
    assert timezone.localtime(latest.expires_at).date() == day and Message.objects.count() == 2


def test_the_sender_extends_an_expired_message_and_its_recipient_reads_again(make_user, hold_message):
    sender = make_user("sender@example.com")
    message = hold_message(["one@example.com"], sender=sender)
    Message.objects.filter(pk=message.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    reader = signed_in("one@example.com", make_user)
    assert reader.get(f"/messages/{message.public_id}/").status_code == 410
    writer = signed_in("sender@example.com", make_user)
    day = timezone.localdate() + timedelta(days=14)
    writer.post(f"/messages/{message.public_id}/extend/", {"until": day.isoformat()})
    assert reader.get(f"/messages/{message.public_id}/").status_code == 200
    event = AccessEvent.objects.get(action="extend")
    assert event.user.email == "sender@example.com" and day.isoformat() in event.detail
    assert f"Extended the expiry (until {day.isoformat()}" in page_text(
        writer.get(f"/messages/{message.public_id}/")
    )
    refused = writer.post(f"/messages/{message.public_id}/extend/", {"until": "2001-01-01"}, follow=True)
    assert "Choose a date after today." in page_text(refused)
    assert (
        reader.post(f"/messages/{message.public_id}/extend/", {"until": day.isoformat()}).status_code == 404
    )


def test_recall_for_one_recipient_leaves_the_other_reading(make_user, hold_message):
    sender = make_user("sender@example.com", name="Sue Sender")
    message = hold_message(["one@example.com", "two@example.com"], sender=sender)
    writer = signed_in("sender@example.com", make_user)
    one = Recipient.objects.get(address="one@example.com")
    writer.post(f"/messages/{message.public_id}/revoke/", {"recipient": one.pk})
    first, second = signed_in("one@example.com", make_user), signed_in("two@example.com", make_user)
    gone = first.get(f"/messages/{message.public_id}/")
    assert gone.status_code == 410 and "please contact sender@example.com" in page_text(gone)
    assert "The figures are attached." not in gone.content.decode()
    assert second.get(f"/messages/{message.public_id}/").status_code == 200
    assert "withdrawn" in page_text(first.get("/"))
    tracking = page_text(writer.get(f"/messages/{message.public_id}/"))
    assert "one@example.com : recalled" in tracking and "Recalled the message (one@example.com)" in tracking


def test_resend_gives_a_new_link_and_the_old_one_stops_at_once(make_user, hold_message, mailbox):
    sender = make_user("sender@example.com")
    make_user("one@example.com")
    message = hold_message(["one@example.com"], sender=sender)
    old = LINK.search(body_text(deliver(mailbox, 1)[0])).group(1)
    writer = signed_in("sender@example.com", make_user)
    recipient = Recipient.objects.get()
    writer.post(f"/messages/{message.public_id}/resend/{recipient.pk}/")
    assert Client().get(old).status_code == 404
    new = LINK.search(body_text(deliver(mailbox, 2)[1])).group(1)
    assert new != old and Client().get(new).status_code == 302
    assert AccessEvent.objects.get(action="resend").detail == "one@example.com"


def test_sent_shows_each_recipients_progress(make_user, hold_message, mailbox):
    sender = make_user("sender@example.com")
    message = hold_message(
        ["one@example.com", "two@example.com"],
        sender=sender,
        attachments=[IncomingAttachment("a.txt", "text/plain", io.BytesIO(b"a"))],
    )
    deliver(mailbox, 2)
    reader = signed_in("one@example.com", make_user)
    reader.get(f"/messages/{message.public_id}/")
    reader.get(f"/messages/{message.public_id}/")
    attachment = message.attachments.get()
    b"".join(
        reader.get(f"/messages/{message.public_id}/attachments/{attachment.public_id}/").streaming_content
    )
    sent = page_text(signed_in("sender@example.com", make_user).get("/messages/sent/"))
    assert re.search(r"one@example.com: downloaded · opened 2 times, first .+, last .+ · downloaded", sent)
    assert "two@example.com: notified" in sent


def test_an_outsider_replies_and_finds_the_reply_in_sent(make_user, hold_message):
    message = hold_message(["client@outside.example"])
    # External recipients sign in through links only (tested elsewhere); here the session is made directly.
    client = Client()
    client.force_login(User.objects.get(email="client@outside.example"))
    client.post(f"/messages/{message.public_id}/reply/", {"body": "Thank you."})
    assert subjects(client.get("/messages/sent/")) == ["Re: Quarterly figures"]
    assert client.get("/messages/new/").status_code == 403


def test_the_intake_takes_the_senders_options_from_headers_and_drops_subject_tags(intake, make_user):
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "sender@example.com", "a@outside.example", "[secure] Budget"
    mail["X-Portal-Expires-Days"] = "7"
    mail["X-Portal-Restricted"] = "yes"
    mail["X-Portal-Allow-Reply"] = "no"
    mail.set_content("Figures.")
    other = EmailMessage()
    other["From"], other["To"], other["Subject"] = "sender@example.com", "a@outside.example", "Plan [ENCRYPT]"
    other["X-Portal-Expires"] = (timezone.localdate() + timedelta(days=3)).isoformat()
    other["X-Portal-Expires-Days"] = "many"  # not a number: the date decides
    other.set_content("Plan.")
    with smtplib.SMTP("127.0.0.1", intake) as smtp:
        smtp.send_message(mail)
        smtp.send_message(other)
    budget, plan = Message.objects.order_by("pk")
    assert budget.subject == "Budget" and plan.subject == "Plan"
    assert 6.99 < (budget.expires_at - timezone.now()).total_seconds() / 86400 <= 7
    assert budget.restricted and not budget.allow_reply
    assert timezone.localtime(plan.expires_at).date() == timezone.localdate() + timedelta(days=3)
    assert not plan.restricted and plan.allow_reply
