"""Malware scanning with a real clamd: every attachment is scanned before anyone can open it."""

import io
import re
import smtplib
from email.message import EmailMessage

import pytest
from django.core import checks
from django.test import Client

from accounts.models import portal_permission
from messaging.holding import IncomingAttachment, scan_waiting
from messaging.models import Message, QuarantinedMessage, ScanState
from messaging.notify import deliver_due
from portal.models import AuditEvent

from .clamav import EICAR, SIGNATURE
from .helpers import free_port, log_in

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery"


@pytest.fixture
def scanner(clamd_server, settings):
    settings.CLAMD_ADDRESS = clamd_server[0]
    return clamd_server


def mail_with(port, filename, content, to=("client@outside.example",)):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "staff@example.com", ", ".join(to), "Contract"
    message.set_content("Please sign the attached.")
    message.add_attachment(content, maintype="application", subtype="octet-stream", filename=filename)
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        return smtp.send_message(message)


def subjects(mailbox):
    return [(m["To"], m["Subject"]) for m in mailbox.messages]


def test_held_mail_with_malware_is_quarantined_and_only_its_sender_is_told(
    scanner, intake, mailbox, make_user, make_profile
):
    make_user("staff@example.com")
    mail_with(intake, "invoice.pdf.exe", EICAR)
    message = Message.objects.get()
    assert message.scan == ScanState.INFECTED and SIGNATURE in message.finding
    assert message.attachments.get().finding == SIGNATURE
    deliver_due()
    sent = mailbox.wait_for(1)
    assert subjects(mailbox) == [
        ("staff@example.com", "Your secure message was not delivered: malware found")
    ]
    notice = sent[0].get_body(("plain",)).get_content()
    assert "invoice.pdf.exe: " + SIGNATURE in notice and "Contract" in notice
    assert not mailbox.to("client@outside.example")
    # Nobody reads it: the recipient does not see it, nor opens it by its address.
    reader = message.recipients.get().user
    reader.set_password(PASSWORD)
    reader.kind = "internal"
    reader.save()
    reader.user_permissions.add(portal_permission())
    client = Client()
    client.force_login(reader)
    assert client.get(f"/messages/{message.public_id}/").status_code == 404
    assert "Contract" not in client.get("/").content.decode()
    # The administrators see it under Quarantine, with the virus, the sender and the recipients.
    make_user("admin@example.com", is_staff=True, is_superuser=True)
    admin = Client()
    log_in(admin, "admin@example.com", PASSWORD)
    page = admin.get("/admin/messaging/quarantinedmessage/").content.decode()
    assert SIGNATURE in page and "staff@example.com" in page and "client@outside.example" in page
    assert AuditEvent.objects.filter(event="message.quarantined", message=str(message.public_id)).exists()
    # ... and delete its content, on the record.
    admin.post(
        "/admin/messaging/quarantinedmessage/",
        {"action": "delete_content", "_selected_action": [message.pk], "confirm": "yes"},
    )
    message.refresh_from_db()
    assert message.purged_at and not message.attachments.exists()
    purged = AuditEvent.objects.get(event="message.purged")
    assert (purged.actor_name, purged.details["reason"]) == ("admin@example.com", "malware")


def test_a_clean_attachment_is_held_and_notified_as_ever(scanner, intake, mailbox):
    mail_with(intake, "contract.pdf", b"%PDF-1.7 a clean contract")
    message = Message.objects.get()
    assert message.scan == ScanState.CLEAN and message.scanned_at
    deliver_due()
    assert [s for _to, s in subjects(mailbox) if "secure message" in s]
    assert not QuarantinedMessage.objects.exists()


def reader_of_a_message(hold_message, make_user):
    original = hold_message(["reader@example.com"], text="Please send the signed copy.")
    reader = original.recipients.get().user
    reader.kind, reader.name = "internal", "Rita Reader"
    reader.set_password(PASSWORD)
    reader.save()
    reader.user_permissions.add(portal_permission())
    client = Client()
    log_in(client, "reader@example.com", PASSWORD)
    return original, client


def test_a_reply_with_malware_is_refused_on_the_page_and_the_text_is_kept(scanner, hold_message, make_user):
    original, client = reader_of_a_message(hold_message, make_user)
    page = client.post(
        f"/messages/{original.public_id}/reply/",
        {"body": "Here it is, signed.", "attachments": [_file("signed.pdf", EICAR)]},
    ).content.decode()
    assert f"“signed.pdf” was refused: the malware scanner found {SIGNATURE} in it. Nothing was sent." in page
    assert "Here it is, signed." in page  # what the person typed is still on the form
    assert Message.objects.count() == 1 and not Message.objects.filter(source="reply").exists()
    refused = AuditEvent.objects.get(event="upload.refused")
    assert refused.actor_name == "reader@example.com" and refused.details["files"] == ["signed.pdf"]


def test_compose_with_malware_is_refused_and_nothing_is_stored(scanner, make_user, tmp_path, settings):
    make_user("staff@example.com")
    client = Client()
    log_in(client, "staff@example.com", PASSWORD)
    page = client.post(
        "/messages/new/",
        {"to": "client@outside.example", "subject": "Figures", "body": "Attached.", "expiry": "7",
         "attachments": [_file("figures.xlsm", EICAR)]},
    ).content.decode()  # fmt: skip
    assert "“figures.xlsm” was refused" in page and 'value="Figures"' in page
    assert not Message.objects.exists()


def _file(name, content):
    upload = io.BytesIO(content)
    upload.name = name
    return upload


def test_with_clamd_away_the_intake_says_250_and_notifies_once_clamd_is_back(
    clamd_server, settings, intake, mailbox
):
    settings.CLAMD_ADDRESS = f"tcp://127.0.0.1:{free_port()}"  # clamd stopped: nothing answers there
    answer = mail_with(intake, "contract.pdf", b"%PDF-1.7 a clean contract")
    assert answer == {}  # every recipient accepted: a 250
    message = Message.objects.get()
    assert message.scan == ScanState.PENDING
    deliver_due()
    assert not mailbox.messages  # nobody is told about a message nobody can open yet
    from portal.metrics import exposition

    assert re.search(rb"portal_scan_backlog 1\.0", exposition())
    page = Client().get("/readyz")
    assert page.status_code == 503 and page.json()["failed"] == ["scanner"]
    settings.CLAMD_ADDRESS = clamd_server[0]  # clamd is back
    deliver_due()
    message.refresh_from_db()
    assert message.scan == ScanState.CLEAN
    assert mailbox.wait_for(1)[0]["To"] == "client@outside.example"
    assert Client().get("/readyz").json()["checks"]["scanner"] == "ok"


def test_with_clamd_away_an_upload_is_refused_with_try_again(clamd_server, settings, make_user):
    settings.CLAMD_ADDRESS = f"tcp://127.0.0.1:{free_port()}"
    make_user("staff@example.com")
    client = Client()
    log_in(client, "staff@example.com", PASSWORD)
    page = client.post(
        "/messages/new/",
        {"to": "client@outside.example", "subject": "Figures", "body": "Attached.", "expiry": "7",
         "attachments": [_file("figures.pdf", b"%PDF clean")]},
    ).content.decode()  # fmt: skip
    assert "cannot be checked for malware right now" in page and "try again in a few minutes" in page
    assert not Message.objects.exists()


def test_held_mail_that_waited_is_quarantined_when_the_scanner_finds_malware(
    clamd_server, settings, hold_message, mailbox
):
    settings.CLAMD_ADDRESS = f"tcp://127.0.0.1:{free_port()}"
    message = hold_message(
        ["client@outside.example"],
        source="smtp",
        attachments=[IncomingAttachment("x.com", "application/x", io.BytesIO(EICAR))],
    )
    assert message.scan == ScanState.PENDING
    settings.CLAMD_ADDRESS = clamd_server[1]  # over TCP this time
    assert scan_waiting() == 1
    message.refresh_from_db()
    assert message.scan == ScanState.INFECTED and "x.com: " + SIGNATURE in message.finding
    deliver_due()
    assert [m["To"] for m in mailbox.wait_for(1)] == ["sender@example.com"]


def test_without_a_scanner_check_deploy_warns(settings):
    settings.CLAMD_ADDRESS = ""
    found = checks.run_checks(include_deployment_checks=True, tags=["security"])
    assert "portal.W002" in [c.id for c in found]


def test_a_mistyped_scanner_address_stops_the_process(settings):
    settings.CLAMD_ADDRESS = "clamd.example.com:3310"
    assert "portal.E005" in [c.id for c in checks.run_checks(tags=["portal_scanning"])]
