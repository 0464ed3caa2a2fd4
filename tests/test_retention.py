"""Content kept or destroyed by policy: purge after PURGE_AFTER_DAYS, legal holds that keep it, and the
eDiscovery export; and what the sender sees of each recipient's downloads."""

import email
import email.policy
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import User
from messaging import actions
from messaging.holding import IncomingAttachment
from messaging.models import LegalHold, Message
from portal.client import Client as ActionClient
from portal.models import AuditEvent

from .helpers import log_in

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


def expired_long_ago(message, settings):
    Message.objects.filter(pk=message.pk).update(
        expires_at=timezone.now() - timedelta(days=settings.PURGE_AFTER_DAYS + 1)
    )


def purge():
    call_command("purge_expired", stdout=io.StringIO())


def with_file(hold_message, recipients=("client@outside.example",), **fields):
    attachment = IncomingAttachment("contract.pdf", "application/pdf", io.BytesIO(b"%PDF signed"))
    return hold_message(list(recipients), attachments=[attachment], **fields)


@pytest.fixture
def officer(make_user):
    user = make_user("compliance@example.com", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["manage_legal_hold", "export_messages", "view_message"])
    )
    return user


def test_content_is_purged_after_its_retention_and_the_envelope_stays(hold_message, settings):
    message = with_file(hold_message)
    expired_long_ago(message, settings)
    purge()
    message.refresh_from_db()
    assert message.purged_at and message.body_text == b"" and not message.attachments.exists()
    assert message.recipients.get().address == "client@outside.example"  # who, when: kept for the history
    assert AuditEvent.objects.get(event="message.purged").details["reason"] == "retention"


def test_a_message_that_has_not_reached_its_retention_is_kept(hold_message, settings):
    message = with_file(hold_message)
    Message.objects.filter(pk=message.pk).update(
        expires_at=timezone.now() - timedelta(days=settings.PURGE_AFTER_DAYS - 1)
    )
    purge()
    message.refresh_from_db()
    assert message.purged_at is None and message.attachments.exists()


def test_a_legal_hold_on_a_message_keeps_it_and_lifting_it_lets_the_purge_go(hold_message, settings, officer):
    message = with_file(hold_message)
    hold_row = actions.place_legal_hold(
        officer, ActionClient(ip="192.0.2.7"), "Matter 2026-114", message=message
    )
    expired_long_ago(message, settings)
    purge()
    message.refresh_from_db()
    assert message.purged_at is None and message.attachments.exists()
    assert actions.lift_legal_hold(officer, ActionClient(), hold_row)
    purge()
    message.refresh_from_db()
    assert message.purged_at is not None
    events = list(
        AuditEvent.objects.filter(event__startswith="legal_hold").values_list("event", "actor_name")
    )
    assert events[::-1] == [
        ("legal_hold.placed", "compliance@example.com"),
        ("legal_hold.lifted", "compliance@example.com"),
    ]


def test_a_hold_on_an_account_keeps_what_it_sent_and_received(hold_message, settings, officer, make_user):
    sender = make_user("sender@example.com")
    sent = with_file(hold_message, sender=sender)
    received = with_file(hold_message, ["held.person@example.com"], sender=sender)
    other = with_file(hold_message, ["someone@outside.example"], sender=sender)
    actions.place_legal_hold(
        officer, ActionClient(), "Matter 7", account=User.objects.get(email="client@outside.example")
    )
    actions.place_legal_hold(
        officer, ActionClient(), "Matter 8", account=User.objects.get(email="held.person@example.com")
    )
    for message in (sent, received, other):
        expired_long_ago(message, settings)
    purge()
    kept = set(Message.objects.filter(purged_at__isnull=True).values_list("pk", flat=True))
    assert kept == {sent.pk, received.pk}


def test_a_recall_hides_a_held_message_but_keeps_it(hold_message, settings, officer):
    message = with_file(hold_message)
    actions.place_legal_hold(officer, ActionClient(), "Matter 9", message=message)
    actions.recall(message.sender_user, ActionClient(), message)
    Message.objects.filter(pk=message.pk).update(revoked_at=timezone.now() - timedelta(days=400))
    purge()
    message.refresh_from_db()
    assert message.revoked_at and message.purged_at is None and message.attachments.exists()


def test_only_the_holds_permission_places_a_hold(hold_message, make_user):
    message = with_file(hold_message)
    helpdesk = make_user("helpdesk@example.com", is_staff=True)
    with pytest.raises(actions.Refused):
        actions.place_legal_hold(helpdesk, ActionClient(), "Because", message=message)
    assert not LegalHold.objects.exists()


def test_the_admin_places_and_lifts_a_hold_and_the_message_list_shows_it(hold_message, officer):
    message = with_file(hold_message)
    admin = Client()
    log_in(admin, "compliance@example.com", PASSWORD)
    admin.post(
        "/admin/messaging/message/",
        {
            "action": "place_legal_hold",
            "_selected_action": [message.pk],
            "confirm": "yes",
            "reason": "Matter 12",
        },
    )
    hold_row = LegalHold.objects.get()
    assert (hold_row.message, hold_row.reason, hold_row.placed_by) == (
        message,
        "Matter 12",
        "compliance@example.com",
    )
    listing = admin.get("/admin/messaging/message/").content.decode()
    assert 'alt="True"' in listing  # the legal hold column
    admin.post("/admin/messaging/legalhold/", {"action": "lift", "_selected_action": [hold_row.pk]})
    hold_row.refresh_from_db()
    assert hold_row.lifted_by == "compliance@example.com"


def test_the_ediscovery_export_has_every_message_as_eml_and_its_history(hold_message, tmp_path, make_user):
    first = with_file(hold_message, subject="Contract v1", text="Please sign.")
    sender = first.sender_user
    hold_message(["client@outside.example"], sender=sender, subject="Contract v2", text="Signed copy?")
    hold_message(["nobody.else@example.com"], sender=sender, subject="Not theirs")
    out = tmp_path / "client.zip"
    call_command(
        "export_messages", "--account", "client@outside.example", "--out", str(out), stdout=io.StringIO()
    )
    with zipfile.ZipFile(out) as archive:
        names = sorted(archive.namelist())
        emls = [n for n in names if n.endswith(".eml")]
        assert len(emls) == 2 and len(names) == 4
        first_eml = email.message_from_bytes(archive.read(emls[0]), policy=email.policy.default)
        history = json.loads(archive.read(emls[0].replace(".eml", ".history.json")))
    assert first_eml["Subject"] == "Contract v1" and first_eml["From"] == "sender@example.com"
    assert first_eml.get_body(("plain",)).get_content().strip() == "Please sign."
    attachment = next(first_eml.iter_attachments())
    assert attachment.get_filename() == "contract.pdf" and attachment.get_content() == b"%PDF signed"
    assert history["recipients"][0]["address"] == "client@outside.example"
    exported = AuditEvent.objects.get(event="messages.exported")
    assert (exported.actor_name, exported.subject_name, exported.details["count"]) == (
        "manage.py",
        "client@outside.example",
        2,
    )


def test_the_admins_export_needs_its_permission(hold_message, officer, make_user):
    message = with_file(hold_message)
    make_user("viewer@example.com", is_staff=True).user_permissions.add(
        Permission.objects.get(codename="view_message")
    )
    viewer = Client()
    log_in(viewer, "viewer@example.com", PASSWORD)
    data = {"action": "export_for_ediscovery", "_selected_action": [message.pk]}
    assert viewer.post("/admin/messaging/message/", data).get("Content-Type") != "application/zip"
    compliance = Client()
    log_in(compliance, "compliance@example.com", PASSWORD)
    answer = compliance.post("/admin/messaging/message/", data)
    assert answer["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))
    assert len(archive.namelist()) == 2
    assert AuditEvent.objects.filter(event="messages.exported", actor_name="compliance@example.com").exists()


# Downloads: what the sender sees, and how a file is served.


def test_the_sender_sees_which_file_each_recipient_downloaded_and_how_often(hold_message, make_user):
    message = with_file(hold_message, ["reader@example.com", "other@example.com"])
    reader = User.objects.get(email="reader@example.com")
    reader.kind = "internal"
    reader.save()
    from accounts.models import portal_permission

    reader.user_permissions.add(portal_permission())
    client = Client()
    client.force_login(reader)
    url = f"/messages/{message.public_id}/attachments/{message.attachments.get().public_id}/"
    for _ in range(2):
        response = client.get(url)
        b"".join(response.streaming_content)
    sender = Client()
    sender.force_login(message.sender_user)
    page = sender.get(f"/messages/{message.public_id}/").content.decode()
    assert "contract.pdf: downloaded 2 times" in page
    assert page.count("contract.pdf: downloaded") == 1  # the other recipient downloaded nothing


def test_an_attachment_is_served_as_a_download_never_shown(hold_message, make_user):
    html = IncomingAttachment("page.html", "text/html", io.BytesIO(b"<script>alert(1)</script>"))
    svg = IncomingAttachment("Résumé.svg", "image/svg+xml", io.BytesIO(b"<svg onload=alert(1)/>"))
    message = hold_message(["client@outside.example"], attachments=[html, svg])
    sender = Client()
    sender.force_login(message.sender_user)
    for attachment in message.attachments.all():
        response = sender.get(f"/messages/{message.public_id}/attachments/{attachment.public_id}/")
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response["Cache-Control"]
        image = sender.get(f"/messages/{message.public_id}/images/{attachment.public_id}/")
        assert image.status_code == 404  # never inline: only raster images are
    svg_answer = sender.get(
        f"/messages/{message.public_id}/attachments/{message.attachments.get(filename='Résumé.svg').public_id}/"
    )
    assert "filename*=utf-8''R%C3%A9sum%C3%A9.svg" in svg_answer["Content-Disposition"]
    assert "no-store" in sender.get(f"/messages/{message.public_id}/")["Cache-Control"]


def test_spooled_mail_given_up_is_purged_after_the_retention_too(settings):
    """It was kept for ever: mail nobody could hold, with its content, never purged."""
    from messaging import spool
    from messaging.models import SpooledMail

    settings.PURGE_AFTER_DAYS = 30
    old = spool.spool(
        "staff@example.com", ["client@outside.example"], b"Subject: Old\r\n\r\nGiven up long ago"
    )
    recent = spool.spool(
        "staff@example.com", ["client@outside.example"], b"Subject: New\r\n\r\nGiven up lately"
    )
    SpooledMail.objects.filter(pk=old.pk).update(failed_at=timezone.now() - timedelta(days=31))
    SpooledMail.objects.filter(pk=recent.pk).update(failed_at=timezone.now() - timedelta(days=1))
    out = io.StringIO()
    call_command("purge_expired", stdout=out)
    assert "Purged 1 spooled emails that could not be held." in out.getvalue()
    assert list(SpooledMail.objects.values_list("pk", flat=True)) == [recent.pk]
