"""Notifications a recipient can check: DKIM signatures that verify against the record the portal prints,
and /check/ that recognises a real notification's code and no other."""

import grp
import os
import re
import subprocess
import sys
from pathlib import Path

import dkim
import pytest
from django.test import Client

from messaging.notify import deliver_due

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent
CHECK = re.compile(r"Check code: ([a-z0-9]{4}-[a-z0-9]{4})")


@pytest.fixture
def dkim_key(tmp_path, settings):
    """A key made by `manage.py dkim_key`, the record it printed, and the portal set up to sign with it."""
    out = tmp_path / "dkim.pem"
    command = ["manage.py", "dkim_key", "--selector", "portal", "--out", str(out), "--domain", "example.com"]
    printed = subprocess.run(
        [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    name, record = re.search(r'^(\S+)\. IN TXT "([^"]+)"', printed, re.MULTILINE).groups()
    assert name == "portal._domainkey.example.com" and record.startswith("v=DKIM1; k=rsa; p=")
    # The default: the services' group 'portal' may read it when run as root on a machine that has that
    # group (an installed portal), else only its owner.
    try:
        services = grp.getgrnam("portal").gr_gid if os.geteuid() == 0 else None
    except KeyError:
        services = None
    mode = out.stat()
    assert (oct(mode.st_mode & 0o777), mode.st_gid if services else None) == (
        ("0o640", services) if services else ("0o600", None)
    )
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR, settings.DKIM_PRIVATE_KEY_FILE = (
        "example.com",
        "portal",
        str(out),
    )
    return {f"{name}.".encode(): record.encode()}


def dns(records):
    return lambda name, timeout=5: records.get(name)


def test_every_email_is_signed_and_verifies_against_the_printed_record(dkim_key, hold_message, mailbox):
    hold_message(["client@outside.example"])
    deliver_due()
    emails = mailbox.wait_for(2)  # the notification and the temporary password
    for message in emails:
        assert message["DKIM-Signature"] and "d=example.com" in message["DKIM-Signature"]
        assert dkim.verify(message.raw, dnsfunc=dns(dkim_key))


def test_an_altered_header_or_body_fails_the_signature(dkim_key, hold_message, mailbox):
    hold_message(["client@outside.example"])
    deliver_due()
    raw = mailbox.wait_for(1)[0].raw
    assert dkim.verify(raw, dnsfunc=dns(dkim_key))
    forged_subject = re.sub(rb"Subject: [^\r\n]+", b"Subject: Urgent: confirm your password", raw, count=1)
    assert not dkim.verify(forged_subject, dnsfunc=dns(dkim_key))
    link = re.search(rb"/m/[A-Za-z0-9_-]{43}/", raw).group(0)
    forged_body = raw.replace(link, b"/m/" + b"x" * 43 + b"/")
    assert not dkim.verify(forged_body, dnsfunc=dns(dkim_key))


def test_a_header_prepended_to_a_signed_notification_fails_the_signature(dkim_key, hold_message, mailbox):
    """The second Subject, From or Reply-To a forger puts on top is what mail programs show: over-signing
    (RFC 6376 5.4.2) makes the copy fail."""
    hold_message(["client@outside.example"])
    deliver_due()
    raw = mailbox.wait_for(1)[0].raw
    assert dkim.verify(raw, dnsfunc=dns(dkim_key))
    for header in (
        b"Subject: Urgent: log in now\r\n",
        b"From: it@example.com\r\n",
        b"Reply-To: x@evil.example\r\n",
    ):
        assert not dkim.verify(header + raw, dnsfunc=dns(dkim_key)), header


def test_without_dkim_check_deploy_warns(settings):
    from django.core import checks

    settings.DKIM_DOMAIN = ""
    found = checks.run_checks(include_deployment_checks=True, tags=["security"])
    assert "portal.W001" in [c.id for c in found]


def a_real_check_code(hold_message, mailbox):
    hold_message(["client@outside.example"])
    deliver_due()
    notice = next(m for m in mailbox.wait_for(2) if "secure message from" in m["Subject"])
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert "This portal never asks for your password in an email" in text
    return CHECK.search(text).group(1)


def test_check_recognises_a_real_notification_and_tells_no_content(hold_message, mailbox):
    code = a_real_check_code(hold_message, mailbox)
    page = Client().post("/check/", {"code": code.upper().replace("-", " ")}).content.decode()
    assert "Yes, this portal sent that email." in page
    assert "Sue Sender &lt;sender@example.com&gt;" in page and "c***@outside.example" in page
    assert "is still available" in page
    assert "Quarterly figures" not in page and "client@outside.example" not in page


def test_check_says_no_for_a_forged_code_without_a_hint(hold_message, mailbox):
    code = a_real_check_code(hold_message, mailbox)
    forged = ("b" if code[0] != "b" else "c") + code[1:]
    page = Client().post("/check/", {"code": forged}).content.decode()
    assert "No, this portal sent no email with that check code." in page
    assert "sender@example.com" not in page and "outside.example" not in page


def test_a_recalled_message_is_said_to_be_gone(hold_message, mailbox):
    from django.utils import timezone

    from messaging.models import Message

    code = a_real_check_code(hold_message, mailbox)
    Message.objects.update(revoked_at=timezone.now())
    assert "is no longer available" in Client().post("/check/", {"code": code}).content.decode()


def test_check_is_throttled_per_client(hold_message, mailbox, settings):
    settings.CHECKS_PER_CLIENT = 3
    code = a_real_check_code(hold_message, mailbox)
    guesser = Client(REMOTE_ADDR="203.0.113.5")
    for guess in ["aaaa-aaaa", "bbbb-bbbb", "cccc-cccc"]:
        assert "No, this portal sent no email" in guesser.post("/check/", {"code": guess}).content.decode()
    page = guesser.post("/check/", {"code": code}).content.decode()
    assert "Too many checks from your connection." in page and "Yes, this portal" not in page
    assert (
        "Yes, this portal"
        in Client(REMOTE_ADDR="203.0.113.6").post("/check/", {"code": code}).content.decode()
    )


def test_the_login_page_says_how_to_check_an_email(client):
    page = client.get("/login/").content.decode()
    assert "This portal never asks for your password in an email; to check an email, open" in page
    assert 'href="/check/"' in page


def test_an_unreadable_dkim_key_is_named_in_the_log_and_by_check_deploy(
    tmp_path, settings, hold_message, mailbox, caplog
):
    """As root wrote it 0600 and the services run as another user: every email waits, and the log says
    which file and what to do (here the file is simply missing, which reads the same)."""
    import logging

    from django.core import checks

    from messaging.models import Notification
    from portal import dkim as portal_dkim

    portal_dkim._private_key.cache_clear()
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "example.com", "portal"
    settings.DKIM_PRIVATE_KEY_FILE = str(tmp_path / "dkim.pem")
    hold_message(["client@outside.example"])
    with caplog.at_level(logging.ERROR, logger="portal.mail"):
        deliver_due()
    assert not mailbox.messages
    assert f"event=dkim_key_unreadable file={tmp_path / 'dkim.pem'}" in caplog.text
    assert str(tmp_path / "dkim.pem") in Notification.objects.first().last_error
    assert "portal.E007" in [
        c.id for c in checks.run_checks(include_deployment_checks=True, tags=["security"])
    ]


def test_dkim_key_gives_the_key_to_the_services_group(tmp_path):
    group = grp.getgrgid(os.getgid()).gr_name
    out = tmp_path / "dkim.pem"
    printed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "dkim_key",
            "--out",
            str(out),
            "--domain",
            "example.com",
            "--group",
            group,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"readable by group {group} (mode 640)" in printed
    assert oct(out.stat().st_mode & 0o777) == "0o640"
