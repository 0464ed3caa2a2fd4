"""Key rotation as docs/keys.md says, with the services running: PORTAL_KEKS_FILE is read again when it
changes, and a message whose key a process does not hold yet is a clear 503 naming nothing secret."""

import io
import logging

import pytest
from django.core.management import call_command
from django.test import Client

from messaging import crypto
from messaging.holding import IncomingAttachment

pytestmark = pytest.mark.django_db
OLD = "old:" + "o" * 43
NEW = "new:" + "n" * 43


@pytest.fixture
def key_file(settings, tmp_path):
    path = tmp_path / "keks"
    path.write_text(OLD + "\n")
    settings.PORTAL_KEKS_FILE = str(path)
    return path


def test_a_new_key_in_the_file_is_used_at_once_and_the_old_messages_still_open(key_file, hold_message):
    before = hold_message(["client@outside.example"])
    assert before.key_id == "old"
    key_file.write_text(f"{NEW}\n{OLD}\n")  # the operator adds the new key first, as keys.md says
    after = hold_message(["other@outside.example"], sender=before.sender_user)
    assert after.key_id == "new"
    call_command("rotate_keys", stdout=io.StringIO())
    before.refresh_from_db()
    assert before.key_id == "new"
    key_file.write_text(f"{NEW}\n")  # and drops the old one
    client = Client()
    client.force_login(before.sender_user)
    assert "The figures are attached." in client.get(f"/messages/{before.public_id}/").content.decode()


def test_a_message_under_a_key_this_process_lacks_is_a_503_that_names_the_key_in_the_log(
    key_file, hold_message, caplog
):
    key_file.write_text(f"{NEW}\n{OLD}\n")
    message = hold_message(
        ["client@outside.example"],
        attachments=[IncomingAttachment("a.pdf", "application/pdf", io.BytesIO(b"%PDF"))],
    )
    key_file.write_text(f"{OLD}\n")  # a node that has not been given the new key yet
    client = Client()
    client.force_login(message.sender_user)
    with caplog.at_level(logging.ERROR, logger="portal.messaging"):
        page = client.get(f"/messages/{message.public_id}/")
        download = client.get(
            f"/messages/{message.public_id}/attachments/{message.attachments.get().public_id}/"
        )
    assert page.status_code == download.status_code == 503
    assert "cannot be opened right now" in page.content.decode() and page["Retry-After"] == "60"
    assert "event=unknown_kek key=new" in caplog.text
    assert "n" * 43 not in caplog.text and "n" * 43 not in page.content.decode()


def test_an_unreadable_key_file_stops_the_process(settings, tmp_path):
    from django.core import checks

    settings.PORTAL_KEKS_FILE = str(tmp_path / "missing")
    assert "portal.E001" in [c.id for c in checks.run_checks(tags=["portal_keys"])]
    assert isinstance(crypto.UnknownKey("x"), Exception)


def test_rotate_keys_reaches_everything_sealed_and_the_checks_name_what_an_old_key_still_holds(
    key_file, hold_message, client, settings
):
    """rotate_keys re-wrapped message keys only: webhook secrets and spooled mail stayed under the old key,
    and once it was removed the worker failed every round while deliveries waited."""
    from django.core import checks

    from api import webhooks
    from api.models import WebhookEndpoint
    from messaging import spool
    from portal import audit
    from portal.models import AuditEvent

    settings.WEBHOOK_ALLOW_PRIVATE = True
    message = hold_message(["client@outside.example"])
    endpoint = WebhookEndpoint(url="https://127.0.0.1:9/hooks", events=["message.held"])
    secret = webhooks.save_endpoint(audit.SYSTEM, None, endpoint)
    waiting = spool.spool(
        "staff@example.com", ["client@outside.example"], b"Subject: Spooled\r\n\r\nHello\r\n"
    )

    def deploy_check_ids():
        return [c.id for c in checks.run_checks(tags=["portal_keys"], include_deployment_checks=True)]

    key_file.write_text(f"{NEW}\n{OLD}\n")
    assert "portal.W003" in deploy_check_ids()  # still under the older key: rotate first
    key_file.write_text(f"{NEW}\n")  # removed too early
    assert "portal.E008" in deploy_check_ids()
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    from messaging import sealed

    sealed._probed["at"] = 0.0
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "keys" in ready.json()["failed"]

    key_file.write_text(f"{NEW}\n{OLD}\n")  # put back, as the check's hint says
    out = io.StringIO()
    call_command("rotate_keys", stdout=out)
    assert "may be removed" in out.getvalue()
    key_file.write_text(f"{NEW}\n")
    assert not {"portal.W003", "portal.E008"} & set(deploy_check_ids())
    assert client.get("/readyz").status_code == 200
    for row in (message, endpoint, waiting):
        row.refresh_from_db()
    assert (message.key_id, endpoint.secret_key_id, waiting.key_id) == ("new", "new", "new")
    assert webhooks.secret_of(endpoint) == secret
    assert b"Hello" in spool.raw_of(waiting)
    rotated = AuditEvent.objects.get(event="keys.rotated")
    assert rotated.actor_name == "manage.py" and rotated.details["newest"] == "new"
    assert rotated.details["rewrapped"] == {
        "messaging.Message": 1, "messaging.SpooledMail": 1, "api.WebhookEndpoint": 1,
    }  # fmt: skip
