"""In a real Chromium: the mailbox of a recipient and the controls of a sender."""

import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from messaging.holding import IncomingAttachment
from messaging.models import Message

from .conftest import body_text
from .test_mailbox import hold_many
from .test_messages import LINK, deliver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def outsider():
    return User.objects.get(email="client@outside.example")


def test_an_outsider_deletes_finds_it_in_deleted_and_restores_it(tab_for, hold_message):
    hold_message(["client@outside.example"], subject="Your statement")
    page = tab_for(outsider())
    page.goto("/")
    expect(page.get_by_role("link", name="Inbox (1 unread)")).to_be_visible()
    page.get_by_role("button", name="Delete Your statement").click()
    expect(page.get_by_text("The message is in Deleted.")).to_be_visible()
    expect(page.get_by_text("You have no secure messages.")).to_be_visible()
    page.get_by_role("link", name="Deleted").click()
    expect(page.get_by_role("link", name="Your statement")).to_be_visible()
    page.get_by_role("button", name="Restore Your statement").click()
    expect(page.get_by_text("The message is back in your Inbox.")).to_be_visible()
    page.get_by_role("link", name="Inbox").click()
    expect(page.get_by_role("link", name="Your statement")).to_be_visible()


def test_searching_120_messages_and_paging_through_them(tab_for, make_user):
    sender = make_user("sender@example.com")
    reader = make_user("reader@example.com")
    hold_many(sender, "reader@example.com", 120)
    page = tab_for(reader)
    page.goto("/")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("Message 119")
    page.get_by_role("link", name="Next").click()
    expect(rows.first).to_contain_text("Message 069")
    page.get_by_role("link", name="Next").click()
    expect(rows).to_have_count(20)
    expect(page.get_by_role("link", name="Next")).to_have_count(0)
    page.get_by_role("link", name="Previous").click()
    expect(rows.first).to_contain_text("Message 069")
    page.get_by_role("searchbox", name="Search").fill("invoice")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(rows).to_have_count(12)
    expect(rows.first).to_contain_text("Message 110 invoice")


def test_reply_all_reaches_to_and_cc_but_never_the_blind_copy(tab_for, hold_message, make_user, mailbox):
    sender = make_user("sender@example.com", name="Sue Sender")
    for address in ("to.person@example.com", "cc.person@example.com", "hidden@example.com"):
        make_user(address)
    original = hold_message(
        ["to.person@example.com", "cc.person@example.com", "hidden@example.com"],
        sender=sender,
        subject="Budget",
        shown_recipients=["to.person@example.com", "cc.person@example.com"],
    )
    deliver(mailbox, 3)
    page = tab_for(User.objects.get(email="to.person@example.com"))
    page.goto(f"/messages/{original.public_id}/")
    page.get_by_role("link", name="Reply all").click()
    expect(
        page.get_by_text("Your reply goes securely to sender@example.com, cc.person@example.com.")
    ).to_be_visible()
    page.get_by_label("Your reply").fill("Agreed, thank you.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Your reply has been sent.")).to_be_visible()
    expect(page.get_by_role("heading", name="Earlier in this conversation")).to_be_visible()
    emails = deliver(mailbox, 5)[3:]
    assert sorted(m["To"] for m in emails) == ["cc.person@example.com", "sender@example.com"]
    assert not [m for m in mailbox.messages[3:] if "hidden@example.com" in m["To"]]
    reply = Message.objects.get(in_reply_to=original)
    assert reply.subject == "Re: Budget"


def test_a_restricted_message_offers_no_download_and_refuses_the_direct_address(tab_for, hold_message):
    message = hold_message(
        ["client@outside.example"],
        restricted=True,
        attachments=[IncomingAttachment("plan.pdf", "application/pdf", io.BytesIO(b"%PDF the plan"))],
    )
    page = tab_for(outsider())
    page.goto(f"/messages/{message.public_id}/")
    expect(page.get_by_text("plan.pdf")).to_be_visible()
    expect(page.get_by_role("link", name="plan.pdf")).to_have_count(0)
    expect(page.get_by_role("link", name="Print")).to_have_count(0)
    attachment = message.attachments.get()
    response = page.goto(f"/messages/{message.public_id}/attachments/{attachment.public_id}/")
    assert response.status == 403


def test_the_sender_extends_recalls_from_one_and_resends_a_notification(
    tab_for, hold_message, make_user, mailbox, live_server, settings
):
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000"  # the links' address, as LINK expects
    sender = make_user("sender@example.com", name="Sue Sender")
    one, two = make_user("one@example.com"), make_user("two@example.com")
    message = hold_message(["one@example.com", "two@example.com"], sender=sender, subject="Offer")
    first_links = {m["To"]: LINK.search(body_text(m)).group(1) for m in deliver(mailbox, 2)}
    page = tab_for(sender)
    page.goto("/messages/sent/")
    page.get_by_role("link", name="Track and manage Offer").click()

    later = timezone.localdate() + timedelta(days=45)
    page.get_by_label("Available until").fill(later.isoformat())
    page.get_by_role("button", name="Extend the expiry").click()
    expect(page.get_by_text("The message is available until the new date.")).to_be_visible()
    assert timezone.localtime(Message.objects.get().expires_at).date() == later

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Recall from one@example.com").click()
    expect(page.get_by_text("The message is recalled from one@example.com")).to_be_visible()
    page.get_by_role("button", name="Resend the notification to two@example.com").click()
    expect(page.get_by_text("A new notification is on its way to two@example.com")).to_be_visible()
    activity = page.get_by_role("region", name="Activity")
    expect(activity).to_contain_text("Extended the expiry")
    expect(activity).to_contain_text("Recalled the message (one@example.com)")
    expect(activity).to_contain_text("Sent the notification again (two@example.com)")

    recalled = tab_for(one)
    recalled.goto(f"/messages/{message.public_id}/")
    expect(recalled.get_by_role("heading", name="The sender withdrew this message")).to_be_visible()
    expect(recalled.get_by_text("please contact sender@example.com")).to_be_visible()
    reader = tab_for(two)
    assert reader.goto(first_links["two@example.com"]).status == 404  # the old link stops at once
    new_link = LINK.search(body_text(deliver(mailbox, 3)[2])).group(1)
    assert reader.goto(new_link).status == 200
    expect(reader.get_by_role("heading", name="Offer")).to_be_visible()
    assert re.search(r"/messages/[0-9a-f-]+/$", reader.url)
    assert live_server.url in reader.url
