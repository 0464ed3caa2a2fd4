"""Held messages: notification, the link, the scoped login, reading, downloading, replying, access."""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import User
from messaging.holding import IncomingAttachment
from messaging.models import AccessEvent, Message, Notification, Recipient
from messaging.notify import deliver_due

from .conftest import body_html, body_text
from .helpers import GENERIC_FAILURE, last_attempt, log_in, tiny_png

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"http://127\.0\.0\.1:8000(/m/[A-Za-z0-9_-]{43}/)")
TEMPORARY = re.compile(r"Temporary password: (\S+)")


def deliver(mailbox, count):
    """Run the notification worker once and return the emails that arrived."""
    deliver_due()
    return mailbox.wait_for(count)


def link_and_password(mailbox, address, count=2):
    deliver(mailbox, count)
    notice = next(m for m in mailbox.to(address) if "secure message from" in m["Subject"])
    credentials = [m for m in mailbox.to(address) if "temporary password" in m["Subject"].lower()]
    password = TEMPORARY.search(body_text(credentials[0])).group(1) if credentials else None
    return LINK.search(body_text(notice)).group(1), password


def read_as_first_time_recipient(client, link, password, new_password="my own secret 42"):
    """Open the link, log in with the temporary password, choose a password: the message page."""
    client.get(link)
    client.post("/login/", {"step": "verify", "password": password})
    return client.post(
        "/password/change/",
        {"step": "change", "new_password1": new_password, "new_password2": new_password},
        follow=True,
    )


def test_holding_a_message_creates_its_recipients_and_queues_their_notifications(hold_message):
    message = hold_message(["Client@Outside.example", "colleague@example.com"])
    assert [r.address for r in message.recipients.order_by("pk")] == [
        "client@outside.example",
        "colleague@example.com",
    ]
    external = User.objects.get(email="client@outside.example")
    assert external.kind == "external" and not external.has_usable_password()
    kinds = sorted(Notification.objects.values_list("kind", flat=True))
    assert kinds == ["credentials", "credentials", "new_message", "new_message"]


def test_each_recipient_gets_a_link_and_a_first_timer_a_temporary_password(hold_message, mailbox):
    hold_message(["client@outside.example"], subject="Quarterly figures", text="Secret body text")
    notice, credentials = sorted(deliver(mailbox, 2), key=lambda m: "password" in m["Subject"])

    assert notice["Subject"] == "You have a secure message from sender@example.com"
    text = body_text(notice)
    assert "Quarterly figures" in text and "Available until:" in text
    assert "Secret body text" not in text + body_html(notice)
    token = LINK.search(text).group(1).split("/")[2]
    recipient = Recipient.objects.get()
    assert recipient.token_hash and token not in recipient.token_hash and len(recipient.token_hash) == 64
    assert recipient.notified_at is not None

    assert credentials["Subject"] == "Your temporary password for reading secure messages"
    password = TEMPORARY.search(body_text(credentials)).group(1)
    assert password not in credentials["Subject"] and "/m/" not in body_text(credentials)


def test_the_link_logs_in_that_recipient_only_and_shows_the_message(client, hold_message, mailbox):
    hold_message(["client@outside.example"], subject="Quarterly figures", text="Secret body text")
    link, password = link_and_password(mailbox, "client@outside.example")

    page = client.get(link, follow=True).content.decode()
    assert "Logging in as <strong>client@outside.example</strong>" in page
    assert "Use a different address" not in page  # the address is fixed by the link

    page = read_as_first_time_recipient(client, link, password).content.decode()
    assert "Quarterly figures" in page and "Secret body text" in page
    assert "sender@example.com" in page
    assert AccessEvent.objects.filter(action="open").count() == 1
    assert Recipient.objects.get().first_opened_at is not None


def test_an_external_recipient_cannot_sign_in_except_through_a_message_link(client, hold_message, mailbox):
    hold_message(["client@outside.example"])
    link, password = link_and_password(mailbox, "client@outside.example")
    read_as_first_time_recipient(Client(), link, password)

    page = log_in(client, "client@outside.example", "my own secret 42").content.decode()
    assert GENERIC_FAILURE in page
    assert last_attempt().reason == "wrong_url"
    assert "contact its sender" in page


def test_a_wrong_password_through_a_link_names_the_sender_as_the_contact(client, hold_message, mailbox):
    hold_message(["client@outside.example"])
    link, _password = link_and_password(mailbox, "client@outside.example")
    client.get(link)
    page = client.post("/login/", {"step": "verify", "password": "not it at all"}).content.decode()
    assert GENERIC_FAILURE in page
    assert "Contact the sender of the message (Sue Sender &lt;sender@example.com&gt;)" in page
    assert "Use a different address" not in page
    assert last_attempt().reason == "no_cloud_password"  # only the emailed temporary one, so far


def test_someone_else_logged_in_sees_a_masked_address_and_no_content(
    client, hold_message, mailbox, make_user
):
    hold_message(["client@outside.example"], text="Secret body text")
    link, _ = link_and_password(mailbox, "client@outside.example")
    make_user("staff@example.com")
    log_in(client, "staff@example.com", "correct horse battery")
    response = client.get(link)
    page = response.content.decode()
    assert response.status_code == 403
    assert "c***@outside.example" in page and "client@outside.example" not in page
    assert "Secret body text" not in page and "Log out" in page


@pytest.mark.parametrize("token", ["A" * 43, "short", "x" * 43 + "'--", "../../admin"])
def test_unknown_or_tampered_tokens_are_not_found(client, hold_message, mailbox, token):
    hold_message(["client@outside.example"])
    deliver(mailbox, 2)
    response = client.get(f"/m/{token}/")
    assert response.status_code == 404
    assert "login_flow" not in client.session


def test_a_token_with_one_character_changed_is_not_found(client, hold_message, mailbox):
    hold_message(["client@outside.example"])
    link, _ = link_and_password(mailbox, "client@outside.example")
    token = link.split("/")[2]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/m/{tampered}/").status_code == 404


def test_another_recipients_token_shows_no_content(client, hold_message, mailbox):
    hold_message(["one@outside.example", "two@outside.example"], text="Secret body text")
    link_one, password_one = link_and_password(mailbox, "one@outside.example", count=4)
    link_two = LINK.search(
        body_text(next(m for m in mailbox.to("two@outside.example") if "/m/" in body_text(m)))
    ).group(1)
    read_as_first_time_recipient(client, link_one, password_one)
    response = client.get(link_two)
    assert response.status_code == 403 and "Secret body text" not in response.content.decode()


def test_a_message_is_visible_to_its_sender_and_recipients_only(client, hold_message, make_user):
    make_user("colleague@example.com")
    message = hold_message(["colleague@example.com"], text="Secret body text")
    url = f"/messages/{message.public_id}/"
    for address, status in (
        ("sender@example.com", 200),
        ("colleague@example.com", 200),
        ("nosy@example.com", 404),
    ):
        if address == "nosy@example.com":
            make_user(address)
        visitor = Client()
        log_in(visitor, address, "correct horse battery")
        response = visitor.get(url)
        assert response.status_code == status, address
        assert ("Secret body text" in response.content.decode()) == (status == 200)


def test_expired_and_revoked_messages_say_so_and_show_nothing(client, hold_message, mailbox):
    expired = hold_message(["client@outside.example"], text="Old body", subject="Old")
    revoked = hold_message(
        ["client@outside.example"],
        text="Withdrawn body",
        subject="Withdrawn",
        sender=User.objects.get(email="sender@example.com"),
    )
    deliver(mailbox, 3)  # two notifications, one temporary password
    links = [LINK.search(body_text(m)).group(1) for m in mailbox.messages if "/m/" in body_text(m)]
    assert len(links) == 2
    Message.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    Message.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    pages = [client.get(link) for link in links]
    texts = " ".join(p.content.decode() for p in pages)
    assert all(p.status_code == 410 for p in pages)
    assert "This message has expired" in texts and "ask sender@example.com to send it again" in texts
    assert "The sender withdrew this message" in texts
    assert "Old body" not in texts and "Withdrawn body" not in texts


def test_the_message_page_shows_the_attachments_and_downloads_stream_them_intact(
    client, hold_message, make_user
):
    make_user("colleague@example.com")
    content = bytes(range(256)) * 5000  # 1.28 MB, several chunks
    message = hold_message(
        ["colleague@example.com"],
        attachments=[
            IncomingAttachment("Figures Q3 (final).xlsx", "application/vnd.ms-excel", io.BytesIO(content)),
            IncomingAttachment("notes.txt", "text/plain", io.BytesIO(b"plain notes")),
        ],
    )
    log_in(client, "colleague@example.com", "correct horse battery")
    response = client.get(f"/messages/{message.public_id}/")
    page = response.content.decode()
    assert response["Referrer-Policy"] == "no-referrer"
    assert "Figures Q3 (final).xlsx" in page and "1.2\xa0MB" in page and "notes.txt" in page

    attachment = message.attachments.get(filename="Figures Q3 (final).xlsx")
    download = client.get(f"/messages/{message.public_id}/attachments/{attachment.public_id}/")
    assert b"".join(download.streaming_content) == content
    assert download["Content-Disposition"] == 'attachment; filename="Figures Q3 (final).xlsx"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Length"] == str(len(content))
    assert download["Referrer-Policy"] == "no-referrer"
    event = AccessEvent.objects.get(action="download")
    assert event.attachment == attachment and event.user.email == "colleague@example.com"


def test_html_bodies_are_sanitised_and_load_nothing_remote(client, hold_message, make_user):
    make_user("colleague@example.com")
    message = hold_message(
        ["colleague@example.com"],
        html='<p onclick="steal()">Hello <b>there</b><script>alert(1)</script>'
        '<img src="https://tracker.example/pixel.gif"><a href="javascript:alert(2)">x</a>'
        '<a href="https://example.org/">site</a></p>',
    )
    log_in(client, "colleague@example.com", "correct horse battery")
    page = client.get(f"/messages/{message.public_id}/").content.decode()
    assert "Hello <b>there</b>" in page
    for bad in ("<script>alert(1)", "onclick", "tracker.example", "javascript:alert(2)"):
        assert bad not in page
    assert 'rel="noopener noreferrer nofollow"' in page


def test_inline_images_are_served_by_the_portal_and_nothing_else_is(client, hold_message, make_user):
    make_user("colleague@example.com")
    png = tiny_png()
    message = hold_message(
        ["colleague@example.com"],
        html='<p>Our logo: <img src="cid:logo@corp" alt="Logo"> a page: <img src="cid:page" alt="Page">'
        ' a pixel: <img src="data:image/gif;base64,R0lGOD" alt="Data"> unknown: <img src="cid:nothing"></p>',
        attachments=[
            IncomingAttachment("logo.png", "image/png", io.BytesIO(png), "logo@corp"),
            IncomingAttachment("page.svg", "image/svg+xml", io.BytesIO(b"<svg onload='x()'/>"), "page"),
        ],
    )
    logo, page_part = message.attachments.order_by("pk")
    log_in(client, "colleague@example.com", "correct horse battery")
    page = client.get(f"/messages/{message.public_id}/").content.decode()
    image_url = f"/messages/{message.public_id}/images/{logo.public_id}/"
    assert f'<img src="{image_url}" alt="Logo">' in page
    assert '<img alt="Page">' in page and '<img alt="Data">' in page and "cid:" not in page
    image = client.get(image_url)
    assert image["Content-Type"] == "image/png" and b"".join(image.streaming_content) == png
    assert image["X-Content-Type-Options"] == "nosniff" and image["Content-Disposition"].startswith("inline")
    svg_url = f"/messages/{message.public_id}/images/{page_part.public_id}/"
    assert client.get(svg_url).status_code == 404  # an SVG is a document that can run script
    assert AccessEvent.objects.filter(action="open").count() == 1

    stranger = Client()
    make_user("stranger@example.com")
    log_in(stranger, "stranger@example.com", "correct horse battery")
    assert stranger.get(image_url).status_code == 404


def test_a_reply_is_held_back_to_the_sender_who_is_notified(client, hold_message, mailbox):
    original = hold_message(["client@outside.example"], subject="Quarterly figures")
    link, password = link_and_password(mailbox, "client@outside.example")
    read_as_first_time_recipient(client, link, password)
    response = client.post(
        f"/messages/{original.public_id}/reply/",
        {"body": "Thank you, received.", "attachments": [io.BytesIO(b"signed")]},
        follow=True,
    )
    assert "Your reply has been sent." in response.content.decode()
    reply = Message.objects.get(source="reply")
    assert reply.subject == "Re: Quarterly figures" and reply.in_reply_to == original
    assert reply.sender == "client@outside.example"
    assert list(reply.recipients.values_list("address", flat=True)) == ["sender@example.com"]
    deliver_due()
    notice = mailbox.wait_for(3)[2]
    assert notice["To"] == "sender@example.com"
    assert "You have a secure message from client@outside.example" == notice["Subject"]
    sender = Client()
    log_in(sender, "sender@example.com", "correct horse battery")
    assert (
        'client@outside.example: <span class="status">replied'
        in sender.get("/messages/sent/").content.decode()
    )
    page = sender.get(f"/messages/{original.public_id}/").content.decode()
    assert '<strong>client@outside.example</strong>: <span class="status">replied' in page


def test_a_message_that_allows_no_reply_offers_none(client, hold_message, make_user):
    make_user("colleague@example.com")
    message = hold_message(["colleague@example.com"], allow_reply=False)
    log_in(client, "colleague@example.com", "correct horse battery")
    assert ">Reply<" not in client.get(f"/messages/{message.public_id}/").content.decode()
    assert client.post(f"/messages/{message.public_id}/reply/", {"body": "hi"}).status_code == 403
    assert Message.objects.count() == 1


def test_the_sender_gets_a_read_receipt_at_the_first_open_only(client, hold_message, mailbox, make_user):
    make_user("colleague@example.com")
    message = hold_message(["colleague@example.com"], read_receipt=True)
    deliver(mailbox, 1)
    log_in(client, "colleague@example.com", "correct horse battery")
    client.get(f"/messages/{message.public_id}/")
    client.get(f"/messages/{message.public_id}/")
    deliver_due()
    receipt = mailbox.wait_for(2)[1]
    assert receipt["To"] == "sender@example.com"
    assert "colleague@example.com opened your secure message" in body_text(receipt)
    assert Notification.objects.filter(kind="read_receipt").count() == 1
    assert AccessEvent.objects.filter(action="open").count() == 2


def test_staff_compose_see_statuses_in_sent_and_revoke(client, make_user, mailbox):
    make_user("sender@example.com")
    log_in(client, "sender@example.com", "correct horse battery")
    response = client.post(
        "/messages/new/",
        {
            "to": "a@outside.example, B@outside.example",
            "subject": "Contract",
            "body": "Please sign.",
            "attachments": [io.BytesIO(b"contract bytes")],
            "expiry": "7",
            "read_receipt": "on",
            "allow_reply": "on",
        },
        follow=True,
    )
    assert "Your message is held" in response.content.decode()
    message = Message.objects.get()
    assert message.read_receipt and message.attachments.count() == 1
    assert 6.9 < (message.expires_at - timezone.now()).total_seconds() / 86400 <= 7
    deliver(mailbox, 4)
    sent = client.get("/messages/sent/").content.decode()
    assert 'a@outside.example: <span class="status">notified' in sent
    client.post(f"/messages/{message.public_id}/revoke/")
    assert Message.objects.get().revoked_at is not None
    sent = client.get("/messages/sent/").content.decode()
    assert 'a@outside.example: <span class="status">recalled' in sent


def test_compose_refuses_bad_addresses_and_keeps_what_was_typed(client, make_user):
    make_user("sender@example.com")
    log_in(client, "sender@example.com", "correct horse battery")
    response = client.post(
        "/messages/new/",
        {"to": "not an address", "subject": "Kept", "body": "Kept body", "expiry": "7"},
    )
    page = response.content.decode()
    assert "Enter valid email addresses" in page and "Kept body" in page
    assert not Message.objects.exists()


def test_external_recipients_may_not_compose(client, hold_message, mailbox):
    hold_message(["client@outside.example"])
    link, password = link_and_password(mailbox, "client@outside.example")
    read_as_first_time_recipient(client, link, password)
    assert client.get("/messages/new/").status_code == 403


def _all_database_values():
    """Every value of every table, as bytes."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    values.append(
                        bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                    )
    return values


def test_nothing_is_stored_in_plain_text(hold_message, settings):
    from pathlib import Path

    secret_body, secret_file = b"Unmistakable body 7f3a", b"Unmistakable attachment bytes 9c1e" * 100
    hold_message(
        ["colleague@example.com"],
        text=secret_body.decode(),
        html=f"<p>{secret_body.decode()}</p>",
        attachments=[IncomingAttachment("f.bin", "application/octet-stream", io.BytesIO(secret_file))],
    )
    stored = b"\n".join(_all_database_values())
    assert secret_body not in stored and secret_file[:34] not in stored
    blobs = [p.read_bytes() for p in Path(settings.MEDIA_ROOT).rglob("*.bin")]
    assert blobs and all(secret_file[:34] not in blob for blob in blobs)


def test_after_rotating_keys_every_message_still_opens(client, hold_message, make_user, settings):
    make_user("colleague@example.com")
    from messaging.crypto import new_kek_text

    message = hold_message(
        ["colleague@example.com"],
        text="Body before rotation",
        attachments=[IncomingAttachment("a.txt", "text/plain", io.BytesIO(b"file"))],
    )
    old = settings.PORTAL_KEKS[0]
    settings.PORTAL_KEKS = [new_kek_text("newer"), old]
    call_command("rotate_keys", stdout=io.StringIO())
    assert Message.objects.get().key_id == "newer"
    settings.PORTAL_KEKS = settings.PORTAL_KEKS[:1]  # the old key is gone
    log_in(client, "colleague@example.com", "correct horse battery")
    assert "Body before rotation" in client.get(f"/messages/{message.public_id}/").content.decode()
    attachment = message.attachments.get()
    download = client.get(f"/messages/{message.public_id}/attachments/{attachment.public_id}/")
    assert b"".join(download.streaming_content) == b"file"


def test_purge_expired_deletes_content_past_retention(hold_message, settings):
    from pathlib import Path

    message = hold_message(
        ["colleague@example.com"],
        attachments=[IncomingAttachment("a.txt", "text/plain", io.BytesIO(b"file"))],
    )
    blob = Path(settings.MEDIA_ROOT) / message.attachments.get().blob
    assert blob.exists()
    Message.objects.filter(pk=message.pk).update(
        expires_at=timezone.now() - timedelta(days=settings.MESSAGE_RETENTION_DAYS + 1)
    )
    call_command("purge_expired", stdout=io.StringIO())
    message.refresh_from_db()
    assert message.purged_at and not bytes(message.body_text) and not message.attachments.exists()
    assert not blob.exists()


def test_the_inbox_and_message_page_cost_the_same_queries_however_much_there_is(
    client, hold_message, make_user, django_assert_max_num_queries
):
    reader = make_user("colleague@example.com")
    first = hold_message(["colleague@example.com"])
    sender = User.objects.get(email="sender@example.com")
    log_in(client, "colleague@example.com", "correct horse battery")

    def counts():
        from django.db import reset_queries
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as inbox:
            client.get("/")
        with CaptureQueriesContext(connection) as page:
            client.get(f"/messages/{first.public_id}/")
        reset_queries()
        return len(inbox), len(page)

    small = counts()
    for _ in range(5):
        hold_message(["colleague@example.com", "other@outside.example"], sender=sender)
    for i in range(5):
        first.attachments.create(filename=f"x{i}", content_type="text/plain", size=1, sha256="0", blob="none")
    Recipient.objects.create(
        message=first,
        address="third@outside.example",
        user=User.objects.create_user("third@outside.example", kind="external"),
    )
    assert counts() == small
    with django_assert_max_num_queries(12):
        client.get(f"/messages/{first.public_id}/")
    assert reader.received_messages.count() == 6


def test_an_attachment_is_only_reached_through_its_own_message(client, hold_message, make_user):
    make_user("colleague@example.com")
    mine = hold_message(["colleague@example.com"])
    sender = User.objects.get(email="sender@example.com")
    other = hold_message(
        ["someone@outside.example"],
        sender=sender,
        attachments=[IncomingAttachment("secret.txt", "text/plain", io.BytesIO(b"not yours"))],
    )
    log_in(client, "colleague@example.com", "correct horse battery")
    foreign = other.attachments.get().public_id
    assert client.get(f"/messages/{mine.public_id}/attachments/{foreign}/").status_code == 404
    assert client.get(f"/messages/{other.public_id}/attachments/{foreign}/").status_code == 404
