"""The intake as real mail servers use it: swaks (Postfix's way of passing raw UTF-8 headers, STARTTLS)
and smtplib against the running intake."""

import smtplib
import ssl
import subprocess

import pytest

from messaging.intake import controller
from messaging.models import Message
from messaging.notify import deliver_due

from .certificates import self_signed
from .helpers import free_port

pytestmark = pytest.mark.django_db(transaction=True)

RAW_UTF8 = (
    "From: Zoë Staff <staff@example.com>\r\nTo: client@outside.example\r\n"
    "Subject: Contrat signé – Q4\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nVoilà.\r\n"
    "--b\r\nContent-Type: application/pdf\r\n"
    'Content-Disposition: attachment; filename="Récapitulatif.pdf"\r\n'
    "\r\nPDF\r\n--b--\r\n"
).encode()


@pytest.fixture
def start_intake(settings, tmp_path):
    servers = []

    def start(*, tls=False, require_tls=False, auth=False):
        if tls:
            cert, key = self_signed(tmp_path, "intake")
            settings.INTAKE_TLS_CERT_FILE, settings.INTAKE_TLS_KEY_FILE = str(cert), str(key)
        settings.INTAKE_REQUIRE_TLS = require_tls
        if auth:
            settings.INTAKE_AUTH_USER, settings.INTAKE_AUTH_PASSWORD = "relay", "relay secret 42"
        server = controller("127.0.0.1", free_port())
        server.start()
        servers.append(server)
        return server.port

    yield start
    for server in servers:
        server.stop()


def swaks(port, *options, data=None, tmp_path=None):
    command = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--from", "staff@example.com"]
    command += ["--to", "client@outside.example", *options]
    if data is not None:
        path = tmp_path / "message.eml"
        path.write_bytes(data)
        command += ["--data", str(path)]
    return subprocess.run(command, capture_output=True, timeout=60).stdout.decode("utf-8", "replace")


def test_a_raw_utf8_subject_relayed_as_postfix_does_is_held_and_notified_as_written(
    start_intake, tmp_path, mailbox
):
    port = start_intake()
    said = swaks(port, data=RAW_UTF8, tmp_path=tmp_path)
    assert "<-  250 2.0.0 Held as" in said, said
    message = Message.objects.get()
    assert message.subject == "Contrat signé – Q4"
    assert message.attachments.get().filename == "Récapitulatif.pdf"
    deliver_due()
    notice = next(m for m in mailbox.wait_for(1) if "secure message" in m["Subject"])
    assert "Contrat signé – Q4" in notice.get_body(("plain",)).get_content()
    assert "\ufffd" not in notice.as_string()


def test_header_bytes_that_are_not_utf8_are_read_as_latin1(start_intake, tmp_path):
    port = start_intake()
    raw = "From: staff@example.com\r\nTo: client@outside.example\r\nSubject: Café crème\r\n\r\nHi\r\n"
    swaks(port, data=raw.encode("latin-1"), tmp_path=tmp_path)
    assert Message.objects.get().subject == "Café crème"


def test_starttls_carries_the_mail_and_a_mail_without_it_is_refused_when_tls_is_required(
    start_intake, tmp_path
):
    port = start_intake(tls=True, require_tls=True)
    plain = swaks(port, "--header", "Subject: In clear", tmp_path=tmp_path)
    assert "530 5.7.0 Must issue a STARTTLS command first" in plain
    assert not Message.objects.exists()
    secured = swaks(port, "--tls", "--header", "Subject: Over TLS", tmp_path=tmp_path)
    assert "TLS started" in secured and "250 2.0.0 Held as" in secured, secured
    assert Message.objects.get().subject == "Over TLS"


def test_with_tls_required_and_auth_a_mail_in_clear_is_told_that_tls_is_required(start_intake, tmp_path):
    port = start_intake(tls=True, require_tls=True, auth=True)
    plain = swaks(port, "--header", "Subject: In clear", tmp_path=tmp_path)
    assert "530 5.7.0 Must issue a STARTTLS command first" in plain, plain
    assert "Authentication required" not in plain
    secured = swaks(
        port, "--tls", "--auth", "LOGIN", "--auth-user", "relay", "--auth-password", "relay secret 42",
        "--header", "Subject: Over TLS", tmp_path=tmp_path,
    )  # fmt: skip
    assert "250 2.0.0 Held as" in secured, secured
    assert Message.objects.get().subject == "Over TLS"


def test_auth_is_offered_only_after_starttls(start_intake, tmp_path):
    port = start_intake(tls=True, auth=True)
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.ehlo()
        assert "starttls" in smtp.esmtp_features and "auth" not in smtp.esmtp_features
        smtp.starttls(context=trusting(tmp_path))
        smtp.ehlo()
        assert "auth" in smtp.esmtp_features
        smtp.login("relay", "relay secret 42")
        smtp.sendmail(
            "staff@example.com", ["client@outside.example"], b"Subject: Authenticated\r\n\r\nHi\r\n"
        )
    assert Message.objects.get().subject == "Authenticated"


def trusting(folder):
    """A client context that trusts the intake's throwaway certificate (its own CA)."""
    context = ssl.create_default_context(cafile=str(folder / "intake.pem"))
    context.check_hostname = False
    return context


def peer_certificate(port, folder):
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.starttls(context=trusting(folder))
        return smtp.sock.getpeercert(binary_form=True)


def test_a_renewed_certificate_is_used_from_the_next_connection(start_intake, tmp_path, settings):
    port = start_intake(tls=True)
    first = peer_certificate(port, tmp_path)
    renewed = tmp_path / "renewed"
    renewed.mkdir()
    cert, key = self_signed(renewed, "intake")
    # Written in place, as certbot's deploy hook or an operator copying files would.
    (tmp_path / "intake.pem").write_bytes(cert.read_bytes())
    (tmp_path / "intake.key").write_bytes(key.read_bytes())
    assert peer_certificate(port, tmp_path) != first
