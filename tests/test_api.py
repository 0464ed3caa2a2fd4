"""The REST API: a key made by the command sends to an outside address, follows the message to opened and
downloaded, recalls it; signed webhooks reach a real receiver; the audit trail by API; the schema fuzzed."""

import base64
import hashlib
import http.server
import io
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from standardwebhooks.webhooks import Webhook

from accounts.models import User
from api import webhooks
from api.models import ApiKey, WebhookEndpoint
from messaging.models import Message
from messaging.notify import deliver_due
from portal.models import AuditEvent

from .helpers import free_port, gunicorn, log_in, manage

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"
LINK = re.compile(r"http://127\.0\.0\.1:8000(/m/[A-Za-z0-9_-]{43}/)")
ALL = "messages:send,messages:read,messages:manage,audit:read"


def make_key(address="app@example.com", scopes=ALL, **extra):
    out = io.StringIO()
    call_command("api_key", "create", "--name", extra.pop("name", "statements"), "--account", address,
                 "--scopes", scopes, stdout=out, **extra)  # fmt: skip
    return out.getvalue().strip()


@pytest.fixture
def key(make_user):
    make_user("app@example.com", name="Statements app")
    return make_key()


def api(key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return Client(**headers)


def send(client, **fields):
    body = {"to": ["client@outside.example"], "subject": "Your statement", "text": "Attached.", **fields}
    return client.post("/api/v1/messages/", body, content_type="application/json")


def test_a_key_sends_to_an_outside_address_and_follows_it_to_opened_and_downloaded(key, mailbox):
    assert key.startswith("spk_") and ApiKey.objects.get().key_hash not in key  # kept only as a hash
    pdf = base64.b64encode(b"%PDF statement").decode()
    answer = send(
        api(key),
        attachments=[{"filename": "statement.pdf", "content_type": "application/pdf", "content_base64": pdf}],
        expires_in_days=7,
        read_receipt=True,
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert [(r["address"], r["status"]) for r in body["recipients"]] == [
        ("client@outside.example", "waiting")
    ]
    message = Message.objects.get(public_id=body["id"])
    assert (message.sender, message.source) == ("app@example.com", "api")
    deliver_due()
    texts = [m.get_body(("plain",)).get_content() for m in mailbox.wait_for(2)]
    link = next(LINK.search(t).group(1) for t in texts if LINK.search(t))
    temporary = next(
        re.search(r"Temporary password: (\S+)", t).group(1) for t in texts if "Temporary password" in t
    )
    from .test_messages import read_as_first_time_recipient

    reader = Client()
    page = read_as_first_time_recipient(reader, link, temporary).content.decode()
    assert "Attached." in page
    attachment = message.attachments.get()
    b"".join(
        reader.get(f"/messages/{message.public_id}/attachments/{attachment.public_id}/").streaming_content
    )
    followed = api(key).get(f"/api/v1/messages/{message.public_id}/").json()
    recipient = followed["recipients"][0]
    assert recipient["status"] == "downloaded" and recipient["notified_at"] and recipient["opened_at"]
    assert [(d["filename"], d["count"]) for d in recipient["downloads"]] == [("statement.pdf", 1)]
    listed = api(key).get("/api/v1/messages/").json()
    assert [m["id"] for m in listed["results"]] == [str(message.public_id)]
    used = AuditEvent.objects.filter(event="api.used").first()
    assert used.actor_name == "api-key:statements" and used.details["status"] == 200


def test_no_key_a_wrong_or_a_revoked_key_get_401_and_a_missing_scope_403(key, make_user):
    for client in (api(), api("spk_not-a-key"), Client(HTTP_AUTHORIZATION="Basic eDp5")):
        answer = send(client)
        assert answer.status_code == 401 and answer["Content-Type"] == "application/problem+json"
        assert answer.json()["status"] == 401
    call_command("api_key", "revoke", "--name", "statements", stdout=io.StringIO())
    assert send(api(key)).status_code == 401
    reader = make_key(scopes="messages:read", name="reader")
    answer = send(api(reader))
    assert answer.status_code == 403 and answer.json()["title"] == "Forbidden"
    assert not Message.objects.exists()


def test_another_accounts_message_is_not_found(key, make_user, hold_message):
    theirs = hold_message(["client@outside.example"])
    answer = api(key).get(f"/api/v1/messages/{theirs.public_id}/")
    assert answer.status_code == 404 and answer["Content-Type"] == "application/problem+json"
    assert api(key).post(f"/api/v1/messages/{theirs.public_id}/recall/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_retry_with_the_same_idempotency_key_holds_nothing_twice(key):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_IDEMPOTENCY_KEY="statement-2026-11-0042")
    first, again = send(client), send(client)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert Message.objects.count() == 1
    other = send(client, subject="Another statement")
    assert other.status_code == 409 and Message.objects.count() == 1


def test_a_corrected_file_of_the_same_size_under_the_same_idempotency_key_is_another_request(key):
    """Only the name, type and size were compared: the corrected file got the first answer, nothing sent."""
    client = api(key)

    def send_file(content):
        upload = io.BytesIO(content)
        upload.name = "statement.pdf"
        fields = {
            "to": "client@outside.example",
            "subject": "Statement",
            "text": "Here.",
            "attachments": upload,
        }
        return client.post("/api/v1/messages/", fields, HTTP_IDEMPOTENCY_KEY="statement-2026-11-0042")

    first = send_file(b"%PDF total: 1000 EUR")
    assert first.status_code == 201
    assert send_file(b"%PDF total: 1000 EUR").json() == first.json()  # a retry
    corrected = send_file(b"%PDF total: 9000 EUR")
    assert corrected.status_code == 409 and Message.objects.count() == 1
    stored = Message.objects.get().attachments.get()  # read whole after its digest was taken
    assert (stored.size, stored.sha256) == (20, hashlib.sha256(b"%PDF total: 1000 EUR").hexdigest())


def test_bad_input_gets_a_problem_never_a_500(key, settings):
    client = api(key)
    too_many = send(client, to=[f"r{n}@outside.example" for n in range(501)])
    assert too_many.status_code == 400 and "errors" in too_many.json()
    assert send(client, subject="x" * 999).status_code == 400
    assert send(client, to=["not an address"]).status_code == 400
    assert send(client, attachments=[{"filename": "a", "content_base64": "%%%"}]).status_code == 400
    assert send(client, expires_in_days=2, expires_at="2099-01-01T00:00:00Z").status_code == 400
    garbled = client.post("/api/v1/messages/", "{not json", content_type="application/json")
    assert garbled.status_code == 400 and garbled["Content-Type"] == "application/problem+json"
    settings.MAX_UPLOAD_MB = 1
    big = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    assert send(client, attachments=[{"filename": "big.bin", "content_base64": big}]).status_code == 413
    assert not Message.objects.exists()


def test_a_large_file_goes_as_multipart(key):
    upload = io.BytesIO(b"%PDF " + b"x" * 300_000)
    upload.name = "annual-report.pdf"
    answer = api(key).post(
        "/api/v1/messages/",
        {"to": "client@outside.example, second@outside.example", "subject": "Report", "text": "Here.",
         "attachments": [upload]},
    )  # fmt: skip
    assert answer.status_code == 201, answer.content
    message = Message.objects.get()
    assert message.attachments.get().size == 300_005
    assert sorted(message.recipients.values_list("address", flat=True)) == [
        "client@outside.example",
        "second@outside.example",
    ]


def test_past_the_keys_rate_it_gets_429_with_retry_after(key, settings):
    settings.API_RATE = 3
    client = api(key)
    answers = [client.get("/api/v1/messages/").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert int(client.get("/api/v1/messages/")["Retry-After"]) > 0


def test_recall_extend_and_resend_by_api(key, settings):
    settings.RESEND_PER_RECIPIENT_PER_HOUR = 1
    body = send(api(key), to=["a@outside.example", "b@outside.example"]).json()
    path = f"/api/v1/messages/{body['id']}"
    first, second = body["recipients"]
    assert (
        api(key)
        .post(f"{path}/extend/", {"expires_at": "2099-01-01T00:00:00Z"}, content_type="application/json")
        .status_code
        == 400
    )
    extended = api(key).post(
        f"{path}/extend/", {"expires_at": "2027-06-01T00:00:00Z"}, content_type="application/json"
    )
    assert extended.status_code == 200 and extended.json()["expires_at"].startswith("2027-06-01")
    assert api(key).post(f"{path}/recipients/{first['id']}/resend/").status_code == 200
    again = api(key).post(f"{path}/recipients/{first['id']}/resend/")
    assert again.status_code == 429 and again.has_header("Retry-After")
    recalled = api(key).post(f"{path}/recall/", {"recipient": second["id"]}, content_type="application/json")
    assert [r["status"] for r in recalled.json()["recipients"]] == ["waiting", "recalled"]
    everyone = api(key).post(f"{path}/recall/").json()
    assert everyone["status"] == "recalled" and everyone["recalled_at"]
    events = set(AuditEvent.objects.filter(message=body["id"]).values_list("event", "actor_name"))
    assert {("message.held", "api-key:statements"), ("message.recalled", "api-key:statements"),
            ("message.extended", "api-key:statements")} <= events  # fmt: skip
    held = AuditEvent.objects.get(message=body["id"], event="message.held")
    assert held.actor.email == "app@example.com"  # the key's account, named by the key


def test_the_audit_trail_is_pulled_from_a_cursor(key, make_user):
    client = api(key)
    first = client.get("/api/v1/audit/").json()
    assert first["events"] and first["events"][0]["id"] < first["next"] + 1
    send(client)
    following = client.get("/api/v1/audit/", {"after": first["next"]}).json()
    kinds = [e["event"] for e in following["events"]]
    assert "message.held" in kinds and all(e["id"] > first["next"] for e in following["events"])
    assert client.get("/api/v1/audit/", {"after": "x"}).status_code == 400


# Webhooks, received by a real HTTP server and verified with the Standard Webhooks library.


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []
    answer = 200

    def do_POST(self):  # noqa: N802  (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(Receiver.answer)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received, Receiver.answer = [], 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()


def endpoint_via_admin(url, events, make_user):
    make_user("admin@example.com", is_staff=True, is_superuser=True)
    admin = Client()
    log_in(admin, "admin@example.com", PASSWORD)
    page = admin.post(
        "/admin/api/webhookendpoint/add/",
        {"url": url, "description": "CRM", "events": events, "enabled": "on"},
        follow=True,
    ).content.decode()  # fmt: skip
    found = re.search(r"(whsec_[A-Za-z0-9+/=]+)", page)
    return found.group(1) if found else page


def test_signed_webhooks_reach_the_receiver_and_verify(key, receiver, make_user, settings, mailbox):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    secret = endpoint_via_admin(
        receiver, ["message.held", "recipient.notified", "message.recalled"], make_user
    )
    assert secret.startswith("whsec_"), secret[:2000]
    body = send(api(key)).json()
    deliver_due()
    api(key).post(f"/api/v1/messages/{body['id']}/recall/")
    deliver_due()
    types = []
    for headers, payload in Receiver.received:
        lowered = {k.lower(): v for k, v in headers.items()}
        event = Webhook(secret).verify(payload, lowered)  # raises on a bad signature
        assert event["data"]["message"] == body["id"]
        types.append(event["type"])
    assert types == ["message.held", "recipient.notified", "message.recalled"]
    forged = {k.lower(): v for k, v in Receiver.received[0][0].items()}
    with pytest.raises(Exception):  # noqa: B017  (the library's own WebhookVerificationError)
        Webhook(secret).verify(Receiver.received[0][1].replace(b"held", b"HELD"), forged)


def test_a_failing_receiver_is_retried_and_every_try_is_kept(key, receiver, make_user, settings, mailbox):
    from django.utils import timezone

    from api.models import WebhookDelivery

    settings.WEBHOOK_ALLOW_PRIVATE = True
    endpoint_via_admin(receiver, ["message.held"], make_user)
    Receiver.answer = 503
    send(api(key))
    deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert (
        delivery.delivered_at is None
        and delivery.last_status == 503
        and delivery.next_attempt_at > timezone.now()
    )
    Receiver.answer = 200
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    deliver_due()
    delivery.refresh_from_db()
    assert delivery.delivered_at and [t.status for t in delivery.tries.all()] == [503, 200]


def test_webhooks_are_not_sent_to_private_addresses_nor_over_http(settings, make_user):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    for url in ("https://127.0.0.1/hooks", "https://10.1.2.3/hooks", "https://169.254.169.254/latest/",
                "http://example.com/hooks", "https://[::1]/hooks"):  # fmt: skip
        page = endpoint_via_admin(url, ["message.held"], make_user) if not User.objects.filter(
            email="admin@example.com").exists() else _add_again(url)  # fmt: skip
        assert not WebhookEndpoint.objects.exists(), url
        assert "private" in page or "https://" in page


def _add_again(url):
    admin = Client()
    log_in(admin, "admin@example.com", PASSWORD)
    return admin.post(
        "/admin/api/webhookendpoint/add/", {"url": url, "events": ["message.held"], "enabled": "on"}
    ).content.decode()


def test_the_address_is_checked_again_at_each_delivery(key, settings, make_user, receiver):
    from api.models import WebhookDelivery

    settings.WEBHOOK_ALLOW_PRIVATE = True
    endpoint_via_admin(receiver, ["message.held"], make_user)
    settings.WEBHOOK_ALLOW_PRIVATE = False  # the name now points somewhere private: nothing is sent
    webhooks.forget_endpoints()
    send(api(key))
    deliver_due()
    assert not Receiver.received
    assert "https://" in WebhookDelivery.objects.get().last_error


# The schema, and the API fuzzed against it.


def test_the_schema_and_its_docs_are_served_from_here(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200 and "/api/v1/messages/" in schema.json()["paths"]
    docs = client.get("/api/docs/").content.decode()
    assert "swagger" in docs.lower() and "cdn" not in docs.lower() and "https://" not in docs


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_5xx_and_every_answer_matches_the_schema(separate_database, tmp_path):
    env = {**separate_database, "API_RATE": "100000"}
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "collectstatic", "--no-input", "-v0")
    manage(
        {**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        "createsuperuser",
        "--no-input",
        "--email",
        "app@example.com",
    )
    key = manage(
        env, "api_key", "create", "--name", "fuzz", "--account", "app@example.com", "--scopes", ALL
    ).strip()
    with gunicorn(env, "--workers", "2", "--timeout", "120") as base:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run", f"{base}/api/schema/",
             "-H", f"Authorization: Bearer {key}",
             "-c", ",".join(["not_a_server_error", "status_code_conformance", "content_type_conformance",
                             "response_schema_conformance"]),
             "-n", "15", "--seed", "1", "--request-timeout", "30"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_numbers_too_large_for_the_database_are_a_clean_answer(key):
    from rest_framework.pagination import CursorPagination  # noqa: F401  (the cursor's encoding)

    body = send(api(key)).json()
    path = f"/api/v1/messages/{body['id']}"
    huge = "9" * 30
    assert api(key).post(f"{path}/recipients/{huge}/resend/").status_code == 404
    assert (
        api(key)
        .post(f"{path}/recall/", {"recipient": int(huge)}, content_type="application/json")
        .status_code
        == 400
    )
    cursor = base64.b64encode(f"p={huge}".encode()).decode()
    assert api(key).get("/api/v1/messages/", {"cursor": cursor}).status_code == 404
    assert api(key).get("/api/v1/audit/", {"after": huge}).status_code in {400, 403}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_api_docs_render_in_a_browser_from_the_portals_own_files(page):
    from playwright.sync_api import expect

    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on(
        "console",
        lambda message: failed.append(message.text) if "Content Security Policy" in message.text else None,
    )
    page.goto("/api/docs/")
    expect(page.get_by_text("Secure portal API").first).to_be_visible()
    expect(page.get_by_text("/api/v1/messages/").first).to_be_visible()
    assert failed == []


def test_a_form_with_too_many_fields_is_a_problem_not_an_html_page(key):
    fields = "&".join(f"to=r{n}%40outside.example" for n in range(1200))
    answer = api(key).post("/api/v1/messages/", fields, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400 and answer["Content-Type"] == "application/problem+json"


def test_only_an_administrator_who_may_read_the_trail_makes_a_key_for_it(make_user):
    from accounts import actions as account_actions
    from api import keys
    from portal.client import Client as ActionClient

    app = make_user("app@example.com")
    helpdesk = make_user("helpdesk@example.com", is_staff=True)
    helpdesk.user_permissions.add(*Permission.objects.filter(codename__in=["change_user", "access_portal"]))
    helpdesk = User.objects.get(pk=helpdesk.pk)
    with pytest.raises(account_actions.Refused):
        keys.make(helpdesk, ActionClient(), name="siem", account=app, scopes=["audit:read"])
    helpdesk.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    helpdesk = User.objects.get(pk=helpdesk.pk)
    _row, key = keys.make(helpdesk, ActionClient(), name="siem", account=app, scopes=["audit:read"])
    assert api(key).get("/api/v1/audit/").status_code == 200


def test_a_since_the_database_cannot_take_is_a_400_not_a_500(key):
    """Schemathesis found it on PostgreSQL: an offset of +18:36 (Python takes it, PostgreSQL does not)."""
    client = api(key)
    send(client)
    for since in ("8352-12-18T17:57:02+18:36", "9999-12-31T23:59:59-15:00", "2026-13-45T00:00:00Z", "soon"):
        answer = client.get("/api/v1/messages/", {"since": since})
        assert answer.status_code in (200, 400), (since, answer.status_code)
        if answer.status_code == 400:
            assert "RFC 3339" in str(answer.json())
    assert len(client.get("/api/v1/messages/", {"since": "2026-01-01T00:00:00+18:30"}).json()["results"]) == 1
