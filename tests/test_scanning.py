"""Malware scanning with a real clamd: every attachment is scanned before anyone can open it."""

import hashlib
import io
import os
import re
import smtplib
import zipfile
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


# clamd as Debian ships it (scaled down): a file past its limits is never cut short, never clean.

LARGE = os.urandom(1024 * 1024 + 512 * 1024)  # 1.5 MiB: past StreamMaxLength (1 MiB here, 25 MiB on Debian)


def stored_content(attachment):
    from messaging.holding import open_attachment

    return b"".join(open_attachment(attachment))


def test_mail_past_clamds_stream_limit_is_stored_whole_and_quarantined_and_the_next_one_goes_through(
    clamd_with_debians_limits, settings, intake, mailbox, make_user
):
    """clamd stopped reading at its StreamMaxLength: the portal stored the tail, rescanned it as clean and
    delivered it."""
    settings.CLAMD_ADDRESS = clamd_with_debians_limits[0]
    make_user("staff@example.com")
    mail_with(intake, "archive.tar", LARGE)
    mail_with(intake, "note.txt", b"a small clean note", to=("second@outside.example",))
    large, small = Message.objects.order_by("pk")
    attachment = large.attachments.get()
    assert large.scan == ScanState.TOO_LARGE and "larger than the malware scanner accepts" in large.finding
    assert (attachment.size, attachment.sha256) == (len(LARGE), hashlib.sha256(LARGE).hexdigest())
    assert stored_content(attachment) == LARGE
    assert small.scan == ScanState.CLEAN
    deliver_due()
    sent = mailbox.wait_for(3)
    assert not mailbox.to("client@outside.example")  # nobody is told of what nobody may open
    notice = next(m for m in sent if m["To"] == "staff@example.com")
    assert notice["Subject"] == "Your secure message was not delivered: too large to check for malware"
    assert "archive.tar" in notice.get_body(("plain",)).get_content()
    assert {m["To"] for m in sent} == {"staff@example.com", "second@outside.example"}
    assert QuarantinedMessage.objects.get().pk == large.pk


def test_an_upload_past_clamds_limit_is_refused_on_the_page(clamd_with_debians_limits, settings, make_user):
    settings.CLAMD_ADDRESS = clamd_with_debians_limits[0]
    make_user("staff@example.com")
    client = Client()
    log_in(client, "staff@example.com", PASSWORD)
    page = client.post(
        "/messages/new/",
        {"to": "client@outside.example", "subject": "Figures", "body": "Attached.", "expiry": "7",
         "attachments": [_file("figures.bin", LARGE)]},
    ).content.decode()  # fmt: skip
    assert "figures.bin: larger than the malware scanner accepts" in page and "Nothing was sent" in page
    assert not Message.objects.exists()


def test_waiting_mail_past_clamds_limit_is_quarantined_without_holding_up_the_mail_behind_it(
    clamd_server, clamd_with_debians_limits, settings, hold_message, mailbox
):
    settings.CLAMD_ADDRESS = f"tcp://127.0.0.1:{free_port()}"  # clamd away while both arrive
    large = hold_message(
        ["client@outside.example"], source="smtp",
        attachments=[IncomingAttachment("big.bin", "application/octet-stream", io.BytesIO(LARGE))],
    )  # fmt: skip
    small = hold_message(
        ["other@outside.example"], source="smtp", sender=large.sender_user,
        attachments=[IncomingAttachment("small.txt", "text/plain", io.BytesIO(b"clean"))],
    )  # fmt: skip
    assert large.attachments.get().size == len(LARGE)
    settings.CLAMD_ADDRESS = clamd_with_debians_limits[0]
    assert scan_waiting() == 2
    large.refresh_from_db()
    small.refresh_from_db()
    assert (large.scan, small.scan) == (ScanState.TOO_LARGE, ScanState.CLEAN)
    deliver_due()
    assert "other@outside.example" in [m["To"] for m in mailbox.wait_for(2)]
    assert not mailbox.to("client@outside.example")


def test_an_archive_member_past_clamds_file_limit_is_not_taken_for_clean(tmp_path, settings, hold_message):
    """With Debian's AlertExceedsMax false, clamd says OK for an archive past MaxScanSize; the
    installer turns it on, and then the portal takes clamd's limit finding as 'too large', not as clean."""
    from .clamav import clamd

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("padding.bin", b"\0" * (2 * 1024 * 1024))  # past MaxScanSize, 2 KiB compressed
        zipped.writestr("notes.txt", b"nothing else")
    limits = "StreamMaxLength 1M\nMaxFileSize 4M\nMaxScanSize 1M\nAlertExceedsMax yes"
    with clamd(tmp_path / "clamd", limits) as (address, _tcp):
        settings.CLAMD_ADDRESS = address
        message = hold_message(
            ["client@outside.example"], source="smtp",
            attachments=[IncomingAttachment("bundle.zip", "application/zip", archive)],
        )  # fmt: skip
    assert message.scan == ScanState.TOO_LARGE  # clamd's Heuristics.Limits.Exceeded: not malware, not clean


def test_check_deploy_says_when_clamds_limits_are_below_what_the_portal_accepts(
    clamd_with_debians_limits, settings, tmp_path
):
    settings.CLAMD_ADDRESS, settings.CLAMD_CONFIG_FILE = clamd_with_debians_limits
    settings.MAX_UPLOAD_MB = 2048
    found = {c.id: c.msg for c in checks.run_checks(include_deployment_checks=True, tags=["security"])}
    assert "StreamMaxLength 1M" in found["portal.W004"] and "AlertExceedsMax" in found["portal.W004"]
    settings.MAX_UPLOAD_MB = 1
    config = clamd_with_debians_limits[1]
    settings.CLAMD_CONFIG_FILE = tmp_path / "clamd.conf"
    settings.CLAMD_CONFIG_FILE.write_text(
        config.read_text().replace("AlertExceedsMax false", "AlertExceedsMax yes")
    )
    found = {c.id for c in checks.run_checks(include_deployment_checks=True, tags=["security"])}
    assert "portal.W004" not in found


def test_with_scan_too_large_refuse_the_content_of_such_mail_is_not_kept(
    clamd_with_debians_limits, settings, intake, mailbox, make_user
):
    """The operator's choice for mail already accepted: quarantine for review (the default), or refuse."""
    settings.CLAMD_ADDRESS = clamd_with_debians_limits[0]
    settings.SCAN_TOO_LARGE = "refuse"
    make_user("staff@example.com")
    mail_with(intake, "archive.tar", LARGE)
    message = Message.objects.get()
    assert message.scan == ScanState.TOO_LARGE and message.purged_at is not None
    assert not message.attachments.exists() and message.body_text == b""
    assert "archive.tar: not scanned" in message.finding  # the envelope and the reason stay
    assert AuditEvent.objects.filter(event="message.purged", details__reason="too_large_to_scan").exists()
    deliver_due()
    notice = mailbox.wait_for(1)[0].get_body(("plain",)).get_content()
    assert "archive.tar: not scanned" in notice and "the message was not kept" in notice


def test_a_mistyped_scan_too_large_stops_the_process(settings):
    settings.SCAN_TOO_LARGE = "delete"
    assert "portal.E010" in [c.id for c in checks.run_checks(tags=["portal_scanning"])]
