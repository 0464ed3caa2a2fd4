"""Attachments in an S3-compatible bucket (moto's server on loopback), shared by several nodes."""

import http.cookiejar
import io
import re
import smtplib
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from messaging.holding import IncomingAttachment
from messaging.models import Message

from .helpers import free_port, gunicorn, log_in, manage, wait_until_listening

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"the merger terms, page one of forty " * 3000  # about 100 KB, several encryption chunks


def test_attachments_go_to_the_bucket_encrypted_and_come_back_whole(
    bucket, object_store_server, hold_message, make_user
):
    reader = make_user("reader@example.com")
    message = hold_message(
        ["reader@example.com"],
        attachments=[IncomingAttachment("terms.pdf", "application/pdf", io.BytesIO(SECRET))],
    )
    keys = object_store_server.keys(bucket)
    attachment = message.attachments.get()
    assert keys == [attachment.blob]
    stored = object_store_server.read(bucket, keys[0])
    assert b"merger" not in stored and len(stored) > len(SECRET)  # ciphertext, with its tags
    client = Client()
    client.force_login(reader)
    response = client.get(f"/messages/{message.public_id}/attachments/{attachment.public_id}/")
    assert b"".join(response.streaming_content) == SECRET


def test_rotate_keys_and_purge_expired_work_on_the_bucket(
    bucket, object_store_server, hold_message, make_user, settings
):
    from .conftest import TEST_KEK

    reader = make_user("reader@example.com")
    message = hold_message(
        ["reader@example.com"],
        attachments=[IncomingAttachment("terms.pdf", "application/pdf", io.BytesIO(SECRET))],
    )
    settings.PORTAL_KEKS = ["newer:" + "n" * 43, TEST_KEK]
    call_command("rotate_keys", stdout=io.StringIO())
    assert Message.objects.get().key_id == "newer"
    settings.PORTAL_KEKS = ["newer:" + "n" * 43]  # the old key is gone: the bucket's blobs still open
    client = Client()
    client.force_login(reader)
    attachment = message.attachments.get()
    response = client.get(f"/messages/{message.public_id}/attachments/{attachment.public_id}/")
    assert b"".join(response.streaming_content) == SECRET

    long_ago = timezone.now() - timedelta(days=settings.MESSAGE_RETENTION_DAYS + 2)
    Message.objects.filter(pk=message.pk).update(expires_at=long_ago)
    call_command("purge_expired", stdout=io.StringIO())
    assert object_store_server.keys(bucket) == []


def test_check_storage_names_the_store_and_tries_a_test_object(bucket, object_store_server, settings):
    out = io.StringIO()
    call_command("check_storage", stdout=out)
    assert f"S3 bucket '{bucket}' at {object_store_server.endpoint}" in out.getvalue()
    assert "A test object was written, read and deleted." in out.getvalue()
    assert object_store_server.keys(bucket) == []
    settings.AWS_STORAGE_BUCKET_NAME = "no-such-bucket"
    settings.STORAGES = {**settings.STORAGES}  # a new storage object, for the new bucket name
    with pytest.raises(CommandError, match="The store does not work: write: .*NoSuchBucket"):
        call_command("check_storage", stdout=io.StringIO())


def test_check_storage_on_the_local_folder(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    out = io.StringIO()
    call_command("check_storage", stdout=out)
    assert f"local folder {tmp_path}" in out.getvalue() and "written, read and deleted" in out.getvalue()


def _log_in_over_http(base, email, password):
    """A cookie-keeping opener signed in to a portal node over real HTTP."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    for fields in ({"step": "identify", "email": email}, {"step": "verify", "password": password}):
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        opener.open(
            urllib.request.Request(f"{base}/login/", data=data, headers={"Referer": f"{base}/login/"})
        )
    return opener


def test_a_message_held_by_node_a_is_downloaded_through_node_b(
    separate_database, object_store_server, tmp_path
):
    """Two nodes, each with its own MEDIA_ROOT, share the database and the bucket."""
    bucket = object_store_server.new_bucket()
    shared = {**separate_database, **object_store_server.environment(bucket)}
    node_a = {**shared, "MEDIA_ROOT": str(tmp_path / "node-a")}
    node_b = {**shared, "MEDIA_ROOT": str(tmp_path / "node-b")}
    manage(node_a, "migrate", "--no-input", "-v0")
    manage(node_b, "collectstatic", "--no-input", "-v0")

    manage(
        node_a,
        "shell",
        "-v",
        "0",
        "-c",
        "from accounts.models import User, portal_permission;"
        "u = User.objects.create_user('reader@example.com', password='correct horse battery');"
        "u.user_permissions.add(portal_permission())",
    )
    port = free_port()
    intake = subprocess.Popen(
        [sys.executable, "manage.py", "smtp_intake", "--port", str(port)],
        cwd=ROOT,
        env=node_a,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port)
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "sender@example.com", "reader@example.com", "Terms"
        mail.set_content("See the terms.")
        mail.add_attachment(SECRET, maintype="application", subtype="pdf", filename="terms.pdf")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(mail)
    finally:
        intake.terminate()
        intake.wait(timeout=30)
    assert not (tmp_path / "node-a").exists() or not any((tmp_path / "node-a").rglob("*.bin"))
    assert len(object_store_server.keys(bucket)) == 1

    with gunicorn(node_b, "--workers", "2") as base:
        opener = _log_in_over_http(base, "reader@example.com", "correct horse battery")
        inbox = opener.open(f"{base}/").read().decode()
        message_path = re.search(r'href="(/messages/[0-9a-f-]{36}/)">Terms<', inbox).group(1)
        page = opener.open(base + message_path).read().decode()
        download = re.search(r'href="(/messages/[^"]+/attachments/[^"]+/)"', page).group(1)
        assert opener.open(base + download).read() == SECRET
    assert not (tmp_path / "node-b").exists() or not any((tmp_path / "node-b").rglob("*.bin"))


@pytest.mark.parametrize(
    ("keks", "says"),
    [
        ("", "PORTAL_KEKS is not set"),
        ("k1:c2hvcnQ=", "PORTAL_KEKS: key 'k1' must be 32 bytes"),
        ("k1:!!!not base64!!!", "PORTAL_KEKS: key 'k1'"),
    ],
)
def test_no_process_starts_without_valid_keys(separate_database, keks, says, tmp_path):
    env = {**separate_database, "PORTAL_KEKS": keks}
    for command in (
        ["smtp_intake", "--port", str(free_port())],
        ["worker", "--once"],
        ["migrate"],
    ):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0, command
        assert says in result.stderr, (command, result.stderr)
    server = subprocess.run(
        [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "-b", f"127.0.0.1:{free_port()}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert server.returncode != 0
    assert f"The portal cannot start: {says}" in server.stderr


def test_the_demo_key_command_runs_without_a_key(separate_database):
    env = {**separate_database, "PORTAL_KEKS": ""}
    assert re.fullmatch(r"demo:[A-Za-z0-9_-]{43}=", manage(env, "generate_kek", "--id", "demo").strip())


def test_a_held_message_downloads_in_the_test_client_with_the_local_store_too(hold_message, make_user):
    reader = make_user("reader@example.com")
    message = hold_message(
        ["reader@example.com"],
        attachments=[IncomingAttachment("terms.pdf", "application/pdf", io.BytesIO(SECRET))],
    )
    client = Client()
    log_in(client, "reader@example.com", "correct horse battery")
    attachment = message.attachments.get()
    response = client.get(f"/messages/{message.public_id}/attachments/{attachment.public_id}/")
    assert b"".join(response.streaming_content) == SECRET
    assert reader.received_messages.count() == 1


def test_a_large_attachment_goes_to_the_bucket_in_parts_and_comes_back_whole(
    bucket, object_store_server, hold_message, make_user, monkeypatch
):
    """Above boto3's multipart threshold (8 MiB) the encrypted file is uploaded in parts, as a 2 GB one is."""
    import hashlib
    import os

    from botocore.client import BaseClient

    calls = []
    real = BaseClient._make_api_call
    monkeypatch.setattr(
        BaseClient,
        "_make_api_call",
        lambda self, name, params: calls.append(name) or real(self, name, params),
    )
    reader = make_user("reader@example.com")
    big = os.urandom(1024 * 1024) * 20
    message = hold_message(
        ["reader@example.com"],
        attachments=[IncomingAttachment("archive.bin", "application/octet-stream", io.BytesIO(big))],
    )
    assert "CreateMultipartUpload" in calls and calls.count("UploadPart") >= 2
    client = Client()
    client.force_login(reader)
    attachment = message.attachments.get()
    response = client.get(f"/messages/{message.public_id}/attachments/{attachment.public_id}/")
    got = hashlib.sha256()
    for chunk in response.streaming_content:
        got.update(chunk)
    assert got.hexdigest() == hashlib.sha256(big).hexdigest()
