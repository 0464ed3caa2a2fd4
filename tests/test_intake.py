"""The SMTP intake, driven over real SMTP: what is held, what is refused, and that nothing is lost."""

import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.test import Client

from messaging.holding import open_attachment, read_bodies
from messaging.intake import controller
from messaging.models import Message

from .helpers import free_port, log_in, manage

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def intake(settings):
    """The intake listening on a loopback port, in this process (so it sees the test database)."""
    settings.MAX_MESSAGE_BYTES = 3 * 1024 * 1024
    port = free_port()
    server = controller("127.0.0.1", port)
    server.start()
    yield port
    server.stop()


def send(port, message, sender="sender@example.com", recipients=("client@outside.example",)):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        return smtp.send_message(message, from_addr=sender, to_addrs=list(recipients))


def a_message(subject="Quarterly figures", text="See attached.", html=None):
    message = EmailMessage()
    message["From"] = "Sue Sender <sender@example.com>"
    message["To"] = "client@outside.example"
    message["Subject"] = subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def attachment_bytes(attachment):
    return b"".join(open_attachment(attachment))


def test_a_mime_message_is_held_with_its_parts_and_attachments_byte_identical(intake, make_user):
    make_user("sender@example.com")
    pdf = bytes(range(256)) * 4096  # 1 MiB of every byte value
    message = a_message(html="<p>See <b>attached</b>.</p><img src='cid:logo'>")
    message.get_payload()[1].add_related(b"\x89PNG fake", maintype="image", subtype="png", cid="<logo>")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="Report Q3.pdf")
    message.add_attachment("naïve café ✓".encode(), maintype="text", subtype="plain", filename="notes.txt")
    send(intake, message, recipients=["client@outside.example", "other@outside.example"])

    held = Message.objects.get()
    assert (held.source, held.kind, held.subject) == ("smtp", "secure", "Quarterly figures")
    assert held.sender == "sender@example.com" and held.sender_user.email == "sender@example.com"
    assert sorted(held.recipients.values_list("address", flat=True)) == [
        "client@outside.example",
        "other@outside.example",
    ]
    text, html = read_bodies(held)
    assert text.strip() == "See attached." and "<b>attached</b>" in html and '<img src="cid:logo">' in html
    files = {a.filename: a for a in held.attachments.all()}
    assert attachment_bytes(files["Report Q3.pdf"]) == pdf
    assert attachment_bytes(files["notes.txt"]) == "naïve café ✓".encode()
    inline = next(a for a in files.values() if a.content_id == "logo")
    assert attachment_bytes(inline) == b"\x89PNG fake"
    assert "original-message.eml" not in files  # nothing was damaged


def test_utf8_and_encoded_subjects_arrive_readable(intake):
    message = a_message(subject="Résumé – 報告書 ✓")
    send(intake, message)  # smtplib encodes the header as RFC 2047 words
    raw = (
        b"From: sender@example.com\r\nTo: client@outside.example\r\n"
        b"Subject: =?iso-8859-1?q?Caf=E9_cr=E8me?=\r\n\r\nbody\r\n"
    )
    with smtplib.SMTP("127.0.0.1", intake) as smtp:
        smtp.sendmail("sender@example.com", ["client@outside.example"], raw)
    assert set(Message.objects.values_list("subject", flat=True)) == {"Résumé – 報告書 ✓", "Café crème"}


def test_non_ascii_file_names_and_charsets_arrive_readable(intake):
    message = a_message(text="Grüße aus Köln")
    message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="Résumé 報告.pdf")
    raw = (
        b"From: sender@example.com\r\nTo: client@outside.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Caf=E9\r\n--B\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="=?utf-8?q?=C3=9Cbersicht.xlsx?="\r\n\r\nxx\r\n--B--\r\n'
    )
    send(intake, message)
    with smtplib.SMTP("127.0.0.1", intake) as smtp:
        smtp.sendmail("sender@example.com", ["client@outside.example"], raw)
    first, second = Message.objects.order_by("pk")
    assert read_bodies(first)[0].strip() == "Grüße aus Köln"
    assert first.attachments.get().filename == "Résumé 報告.pdf"
    assert read_bodies(second)[0].strip() == "Café"
    assert second.attachments.get().filename == "Übersicht.xlsx"


def test_a_ccm_header_and_a_read_receipt_request_are_honoured(intake):
    message = a_message()
    message["X-Portal-Kind"] = "ccm"
    message["Disposition-Notification-To"] = "sender@example.com"
    send(intake, message)
    held = Message.objects.get()
    assert held.kind == "ccm" and held.read_receipt


def test_malformed_mime_is_held_with_what_can_be_read_and_the_original_kept(intake):
    raw = (
        b"From: sender@example.com\r\nTo: client@outside.example\r\nSubject: Broken\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--XYZ\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\nReadable words\r\n"
        b"--XYZ\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="cut.pdf"\r\n\r\nJVBERi0xLj!!!not base64\r\n'
    )  # no closing boundary, a bad charset, bad base64
    with smtplib.SMTP("127.0.0.1", intake) as smtp:
        smtp.sendmail("sender@example.com", ["client@outside.example"], raw)
    held = Message.objects.get()
    assert held.subject == "Broken"
    assert "Readable words" in read_bodies(held)[0]
    original = held.attachments.get(filename="original-message.eml")
    assert attachment_bytes(original) == raw


def test_garbage_is_held_as_its_original_rather_than_lost(intake):
    raw = b"\x00\xff\xfe not an email at all \r\n\r\n\x00\x01\r\n"
    with smtplib.SMTP("127.0.0.1", intake) as smtp:
        smtp.sendmail("sender@example.com", ["client@outside.example"], raw)
    held = Message.objects.get()
    assert attachment_bytes(held.attachments.get(filename="original-message.eml")) == raw


def test_a_message_over_the_size_limit_is_refused_with_552(intake):
    message = a_message()
    message.add_attachment(
        b"x" * (4 * 1024 * 1024), maintype="application", subtype="octet-stream", filename="big.bin"
    )
    with pytest.raises(smtplib.SMTPException) as refused:
        send(intake, message)
    assert "552" in str(refused.value)
    assert not Message.objects.exists()


def test_a_bad_recipient_address_is_refused_and_nothing_is_held(intake):
    with smtplib.SMTP("127.0.0.1", intake) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("sender@example.com", ["not-an-address"], b"Subject: x\r\n\r\nbody\r\n")
    assert refused.value.smtp_code == 553
    assert not Message.objects.exists()


def test_clients_outside_the_allowed_networks_are_refused(intake, settings):
    from messaging import intake as intake_module

    port = free_port()
    server = intake_module.controller("127.0.0.1", port)
    server.handler.allowed_clients = ["10.99.0.0/16"]
    server.start()
    try:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            send(port, a_message())
        assert refused.value.smtp_code == 550
    finally:
        server.stop()
    assert not Message.objects.exists()


def test_smtp_auth_when_configured(settings):
    settings.INTAKE_AUTH_USER, settings.INTAKE_AUTH_PASSWORD = "relay", "relay secret"
    port = free_port()
    server = controller("127.0.0.1", port)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused):
                smtp.send_message(a_message(), "sender@example.com", ["client@outside.example"])
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("relay", "wrong")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.login("relay", "relay secret")
            smtp.send_message(a_message(), "sender@example.com", ["client@outside.example"])
    finally:
        server.stop()
    assert Message.objects.count() == 1


def test_held_mail_reaches_its_recipient_through_the_link(intake, make_user, mailbox):
    from messaging.notify import deliver_due

    from .test_messages import link_and_password, read_as_first_time_recipient

    make_user("sender@example.com")
    message = a_message(text="Body over SMTP")
    message.add_attachment(b"contract", maintype="application", subtype="pdf", filename="c.pdf")
    send(intake, message)
    deliver_due()
    link, password = link_and_password(mailbox, "client@outside.example")
    page = read_as_first_time_recipient(Client(), link, password).content.decode()
    assert "Body over SMTP" in page and "c.pdf" in page
    assert "Welcome" in log_in(Client(), "sender@example.com", "correct horse battery").content.decode()


def test_a_blind_copy_stays_blind(intake, make_user):
    make_user("sender@example.com")
    make_user("colleague@example.com")
    make_user("boss@example.com")
    message = a_message()
    message.replace_header("To", "Colleague <Colleague@example.com>")
    message["Cc"] = "=?utf-8?q?Caf=C3=A9_Client?= <client@outside.example>, not an address"
    send(intake, message, recipients=["colleague@example.com", "client@outside.example", "boss@example.com"])

    held = Message.objects.get()
    assert held.recipients.count() == 3
    assert held.shown_recipients == ["colleague@example.com", "client@outside.example"]
    for reader in ("colleague@example.com", "boss@example.com"):
        client = Client()
        log_in(client, reader, "correct horse battery")
        page = client.get(f"/messages/{held.public_id}/").content.decode()
        assert "colleague@example.com, client@outside.example</dd>" in page
        assert "boss@example.com" not in page
    sender = Client()
    log_in(sender, "sender@example.com", "correct horse battery")
    tracking = sender.get(f"/messages/{held.public_id}/").content.decode()
    assert '<strong>boss@example.com</strong>: <span class="status">opened' in tracking


def test_the_database_away_answers_451_and_the_retry_arrives_whole(separate_database, tmp_path):
    """The real command, in its own process, against a database that goes away and comes back."""
    env = separate_database
    manage(env, "migrate", "--no-input", "-v0")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "smtp_intake", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert "listening" in server.stdout.readline()
        message = a_message(text="Must not be lost")
        message.add_attachment(
            bytes(range(256)) * 1000, maintype="application", subtype="octet-stream", filename="data.bin"
        )
        with _database_away(env):
            with pytest.raises(smtplib.SMTPDataError) as deferred:
                send(port, message)
            assert deferred.value.smtp_code == 451
        send(port, message)  # the sending server retries later
    finally:
        server.terminate()
        server.wait(timeout=20)
    counted = manage(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        (
            "from messaging.models import Message;"
            "from messaging.holding import read_bodies, open_attachment;"
            "m = Message.objects.get(); a = m.attachments.get();"
            "print(Message.objects.count(), read_bodies(m)[0].strip(), len(b''.join(open_attachment(a))),"
            " a.sha256 == __import__('hashlib').sha256(bytes(range(256)) * 1000).hexdigest())"
        ),
    ).split()
    assert counted == ["1", "Must", "not", "be", "lost", "256000", "True"]
    assert len(list((tmp_path / "media").rglob("*.bin"))) == 1  # the deferred try left nothing behind


class _database_away:
    """Make the intake's database unreachable, then bring it back."""

    def __init__(self, env):
        self.env = env

    def __enter__(self):
        url = self.env["DATABASE_URL"]
        if url.startswith("sqlite"):
            self.path = Path(url.removeprefix("sqlite:///"))
            self.path.rename(self.path.with_suffix(".away"))
            self.path.mkdir()  # where the database was, now something SQLite cannot open
        else:
            self.name = url.rsplit("/", 1)[1]
            self._admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
            self._admin(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.name}'"  # noqa: S608
            )
        time.sleep(0.2)

    def __exit__(self, *exc):
        if hasattr(self, "path"):
            self.path.rmdir()
            self.path.with_suffix(".away").rename(self.path)
        else:
            self._admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def _admin(self, sql):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(sql)


def test_the_size_limit_is_read_from_the_settings(settings):
    port = free_port()
    settings.MAX_MESSAGE_BYTES = 1000
    server = controller("127.0.0.1", port)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.ehlo()
            assert smtp.esmtp_features.get("size") == "1000"
    finally:
        server.stop()


def test_a_250_comes_after_the_message_is_on_the_disk_and_its_attachment_when_held(monkeypatch, settings):
    """A power cut after the 250 must lose nothing: the spool's INSERT commits with synchronous=FULL on
    SQLite (the web's NORMAL syncs only at checkpoints), synchronous_commit on PostgreSQL; and when the
    message is held, the attachment's file and folders are synced before the spooled row goes."""
    import os

    from django.db import connection

    from messaging.intake import accept_mail, hold_mail
    from messaging.models import SpooledMail
    from messaging.spool import hold_spooled

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd)
    )
    mail = a_message()
    mail.add_attachment(b"figures", maintype="application", subtype="octet-stream", filename="a.bin")
    spooled = accept_mail("sender@example.com", ["client@outside.example"], mail.as_bytes())
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA synchronous")
            assert cursor.fetchone()[0] == 2  # FULL
        else:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    held = hold_spooled(spooled.pk, hold_mail)
    assert held.public_id == spooled.public_id and not SpooledMail.objects.exists()
    blob = Path(settings.MEDIA_ROOT) / held.attachments.get().blob
    assert {str(blob), str(blob.parent), str(blob.parent.parent)} <= set(synced)
