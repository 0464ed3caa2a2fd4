"""In a real Chromium: mail sent over SMTP is held, and its external recipient reads it and replies."""

import re
import smtplib
from email.message import EmailMessage

import pytest
from playwright.sync_api import expect

from messaging.models import Message
from messaging.notify import deliver_due

from .conftest import body_text
from .helpers import tiny_png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_external_recipient_reads_downloads_and_replies_from_the_notification(
    page, live_server, intake, mailbox, make_user, settings
):
    settings.PORTAL_BASE_URL = live_server.url
    make_user("sender@example.com", "correct horse battery", name="Sue Sender")
    contract = bytes(range(256)) * 2000
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = (
        "sender@example.com",
        "client@outside.example",
        "Your contract",
    )
    mail.set_content("Please sign the attached contract.")
    mail.add_alternative(
        '<p>Please sign the attached contract.</p><img src="cid:logo" alt="Logo">', subtype="html"
    )
    mail.get_payload()[1].add_related(tiny_png(), maintype="image", subtype="png", cid="<logo>")
    mail.add_attachment(contract, maintype="application", subtype="pdf", filename="contract.pdf")
    with smtplib.SMTP("127.0.0.1", intake) as smtp:
        smtp.send_message(mail)

    deliver_due()
    notice, credentials = sorted(mailbox.wait_for(2), key=lambda m: "password" in m["Subject"])
    link = re.search(r"(http://\S+/m/\S+/)", body_text(notice)).group(1)
    temporary = re.search(r"Temporary password: (\S+)", body_text(credentials)).group(1)

    page.goto(link)
    expect(page.get_by_text("Logging in as client@outside.example")).to_be_visible()
    page.get_by_label("Password").press_sequentially(temporary)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("New password", exact=True).fill("client chosen secret 7")
    page.get_by_label("Confirm new password").fill("client chosen secret 7")
    page.get_by_role("button", name="Change password").click()

    expect(page.get_by_role("heading", name="Your contract")).to_be_visible()
    expect(page.get_by_text("Please sign the attached contract.")).to_be_visible()
    logo = page.get_by_role("img", name="Logo")  # the inline image, served by the portal under its CSP
    expect(logo).to_be_visible()
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 1
    with page.expect_download() as download:
        page.get_by_role("link", name="contract.pdf").click()
    assert download.value.suggested_filename == "contract.pdf"
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == contract

    page.get_by_role("link", name="Reply").click()
    page.get_by_label("Your reply").fill("Signed and attached.")
    page.get_by_label("Attachments").set_input_files(
        files=[{"name": "signed.pdf", "mimeType": "application/pdf", "buffer": b"%PDF signed"}]
    )
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_text("Your reply has been sent.")).to_be_visible()

    reply = Message.objects.get(source="reply")
    assert reply.attachments.get().filename == "signed.pdf"
    deliver_due()
    to_sender = mailbox.wait_for(3)[2]
    assert to_sender["To"] == "sender@example.com"
    assert to_sender["Subject"] == "You have a secure message from client@outside.example"

    # The sender follows their own notification and reads the reply.
    page.get_by_role("button", name="Log out").click()
    page.goto(re.search(r"(http://\S+/m/\S+/)", body_text(to_sender)).group(1))
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Re: Your contract")).to_be_visible()
    expect(page.get_by_text("Signed and attached.")).to_be_visible()
