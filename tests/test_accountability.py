"""Accountability: one audit trail of who did what (export, syslog to a real rsyslog), sessions a person
can see and end, and the second outside review's findings, each tried as the attacker would."""

import io
import json
import logging
import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import AuthProfile, SignedInSession, User, portal_permission
from messaging import actions as message_actions
from messaging.models import Attachment, Message
from messaging.notify import deliver_due
from portal import audit_syslog
from portal.client import Client as ActionClient
from portal.logging import JsonFormatter
from portal.metrics import exposition
from portal.models import AuditEvent

from .helpers import GENERIC_FAILURE, account_events, free_port, log_in, manage
from .syslog_server import Rsyslog, received, rsyslog

pytestmark = pytest.mark.django_db
Event = AuditEvent.Event
PASSWORD = "correct horse battery"


@pytest.fixture
def admin_client(make_user):
    make_user("admin@example.com", is_staff=True, is_superuser=True)
    client = Client()
    log_in(client, "admin@example.com", PASSWORD)
    return client


def export(*options):
    out = io.StringIO()
    call_command("audit_export", *options, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


# The trail and its export.


def test_an_administrators_grant_is_one_line_of_the_export_with_who_whom_and_where(admin_client, make_user):
    make_user("staff@example.com", portal=False)
    admin_client.post(
        "/admin/accounts/user/",
        {
            "action": "grant_portal_access",
            "_selected_action": [User.objects.get(email="staff@example.com").pk],
        },
    )
    granted = [line for line in export() if line["event"] == "permission.granted"]
    assert len(granted) == 1
    line = granted[0]
    assert (line["actor"], line["subject"], line["ip"]) == (
        "admin@example.com",
        "staff@example.com",
        "127.0.0.1",
    )
    assert line["details"] == {"permission": "accounts.access_portal"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", line["time"])
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])  # the request's id, as its log lines carry


def test_logins_are_in_the_trail_with_their_reason_and_reference(make_user):
    make_user("staff@example.com")
    log_in(Client(), "staff@example.com", "not the password at all")
    log_in(Client(), "staff@example.com", PASSWORD)
    failed, succeeded = export()[-2:]
    assert (failed["event"], failed["details"]["reason"]) == ("login.failed", "bad_password")
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", failed["details"]["reference"])
    assert (succeeded["event"], succeeded["actor"], succeeded["subject"]) == (
        "login.succeeded",
        "staff@example.com",
        "staff@example.com",
    )


def test_a_message_held_opened_downloaded_and_recalled_is_in_the_trail(hold_message, make_user):
    message = hold_message(["staff.reader@example.com"], attachments=[])
    reader = User.objects.get(email="staff.reader@example.com")
    reader.kind = User.Kind.INTERNAL
    reader.set_password(PASSWORD)
    reader.save()
    reader.user_permissions.add(portal_permission())
    client = Client()
    log_in(client, "staff.reader@example.com", PASSWORD)
    client.get(f"/messages/{message.public_id}/")
    message_actions.recall(message.sender_user, ActionClient(ip="192.0.2.9"), message)
    mine = [line for line in export() if line["message"] == str(message.public_id)]
    assert [line["event"] for line in mine] == ["message.held", "message.opened", "message.recalled"]
    assert mine[1]["actor"] == "staff.reader@example.com" and mine[2]["ip"] == "192.0.2.9"


def test_the_export_keeps_to_since_and_until(make_user):
    with_time = timezone.now()
    AuditEvent.objects.create(
        event=Event.ACCOUNT_CREATED, actor_name="system", at=with_time - timedelta(days=2)
    )
    AuditEvent.objects.create(
        event=Event.ACCOUNT_CHANGED, actor_name="system", at=with_time - timedelta(days=1)
    )
    AuditEvent.objects.create(event=Event.ACCOUNT_DELETED, actor_name="system", at=with_time)
    since = (with_time - timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (with_time - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [line["event"] for line in export("--since", since, "--until", until)] == ["account.changed"]


def test_the_trail_cannot_be_edited_in_the_admin(admin_client):
    event = AuditEvent.objects.create(event=Event.ACCOUNT_CHANGED, actor_name="system")
    assert admin_client.get("/admin/portal/auditevent/").status_code == 200
    admin_client.post(f"/admin/portal/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# The stream to the SIEM, through a real rsyslog.


@pytest.fixture(scope="module")
def syslog(tmp_path_factory):
    with rsyslog(tmp_path_factory.mktemp("rsyslog")) as server:
        yield server


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_every_event_reaches_a_real_rsyslog_as_rfc5424_with_the_exports_json(
    syslog, transport, make_user, settings
):
    udp, tcp, out = syslog
    already = len(received(out, 0, 0))
    settings.AUDIT_SYSLOG = f"{transport}://127.0.0.1:{udp if transport == 'udp' else tcp}"
    person = make_user(f"{transport}.person@example.com", portal=False)
    admin = make_user("root@example.com", is_staff=True, is_superuser=True)
    account_actions.grant_portal_access(admin, ActionClient(ip="192.0.2.1"), person)
    assert audit_syslog.ship() >= 1  # the worker's step
    lines = received(out, already + 1)[already:]
    assert lines, (out.parent / "rsyslog.err").read_text()
    pri, app, msgid, body = lines[-1].split("|", 3)
    assert (pri, app, msgid) == ("86", "secure-portal", "permission.granted")  # authpriv.info
    sent = json.loads(body.strip())
    assert sent == {**export()[-1]}
    assert not AuditEvent.objects.filter(syslog_pending=True).exists()


def test_a_syslog_that_does_not_answer_never_blocks_a_request_and_what_waits_is_counted(make_user, settings):
    settings.AUDIT_SYSLOG = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there
    failures = audit_syslog.FAILURES.labels("unreachable")
    before = failures._value.get()
    make_user("staff@example.com")
    client = Client()
    started = time.monotonic()
    page = log_in(client, "staff@example.com", PASSWORD)
    assert page.status_code == 200 and time.monotonic() - started < 2
    assert "_auth_user_id" in client.session
    assert audit_syslog.ship() == 0 and failures._value.get() == before + 1
    assert AuditEvent.objects.filter(event=Event.LOGIN_SUCCEEDED, syslog_pending=True).exists()
    assert re.search(rb"^portal_audit_syslog_backlog [1-9]", exposition(), re.MULTILINE)


def test_with_the_siem_stopped_and_started_again_every_event_written_meanwhile_arrives(
    make_user, settings, tmp_path
):
    """The first event after the SIEM went away went into a dead socket and was counted as sent."""
    siem = Rsyslog(tmp_path)
    siem.start()
    try:
        settings.AUDIT_SYSLOG = f"tcp://127.0.0.1:{siem.tcp}"
        admin = make_user("root@example.com", is_staff=True, is_superuser=True)
        people = [make_user(f"person{n}@example.com", portal=False) for n in range(4)]
        account_actions.grant_portal_access(admin, ActionClient(), people[0])
        audit_syslog.ship()
        assert len(received(siem.out, 1)) == 1  # the connection is open now
        siem.stop()
        for person in people[1:]:
            account_actions.grant_portal_access(admin, ActionClient(), person)
            assert audit_syslog.ship() == 0  # nothing counted as sent into the closed connection
        siem.start()
        audit_syslog.ship()
        lines = received(siem.out, 4)
    finally:
        siem.stop()
    granted = [json.loads(line.split("|", 3)[3])["subject"] for line in lines if "permission.granted" in line]
    assert set(granted) == {person.email for person in people}
    assert not AuditEvent.objects.filter(syslog_pending=True).exists()


def test_a_mistyped_audit_syslog_stops_the_process(settings):
    from django.core import checks

    settings.AUDIT_SYSLOG = "syslog.example.com:514"
    assert "portal.E004" in [c.id for c in checks.run_checks(tags=["portal_audit"])]


# Sessions: where a person is logged in, and ending them.


def two_sessions(make_user):
    make_user("staff@example.com")
    here = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
    there = Client(REMOTE_ADDR="192.0.2.44")
    log_in(here, "staff@example.com", PASSWORD)
    log_in(there, "staff@example.com", PASSWORD)
    return here, there


def test_the_security_page_lists_where_one_is_logged_in_and_logs_out_everywhere_else(make_user):
    here, there = two_sessions(make_user)
    page = here.get("/security/").content.decode()
    assert "Where you are logged in" in page and "192.0.2.44" in page and "Firefox" in page
    assert "(this session)" in page
    here.post("/security/sessions/others/", follow=True)
    assert there.get("/").status_code == 302  # sent to the login
    assert here.get("/").status_code == 200
    assert SignedInSession.objects.count() == 1
    ended = AuditEvent.objects.get(event=Event.SESSION_ENDED)
    assert ended.details == {"count": 1, "scope": "others"} and ended.actor.email == "staff@example.com"


def test_one_other_session_is_ended_by_itself(make_user):
    here, there = two_sessions(make_user)
    other = SignedInSession.objects.get(ip="192.0.2.44")
    here.post("/security/sessions/end/", {"session": other.pk})
    assert there.get("/").status_code == 302 and here.get("/").status_code == 200


def test_nobody_ends_someone_elses_session_from_their_security_page(make_user):
    _here, there = two_sessions(make_user)
    make_user("other@example.com")
    stranger = Client()
    log_in(stranger, "other@example.com", PASSWORD)
    theirs = SignedInSession.objects.get(ip="192.0.2.44")
    stranger.post("/security/sessions/end/", {"session": theirs.pk})
    assert there.get("/").status_code == 200


def test_a_password_change_ends_every_other_session(make_user):
    here, there = two_sessions(make_user)
    new = "a brand new passphrase 2026"
    here.post(
        "/password/change/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert here.get("/").status_code == 200 and there.get("/").status_code == 302
    changed = account_events().get(event=Event.PASSWORD_CHANGED)
    assert changed.details["sessions_ended"] == 1


def test_after_a_password_change_the_session_is_still_listed_and_can_be_ended(admin_client, make_user):
    """The change gives this session a new key: it stayed alive but left the list, and survived "Log out
    everywhere else" and the administrator's "End all sessions"."""
    here, there = two_sessions(make_user)
    new = "a brand new passphrase 2026"
    here.post("/password/change/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert "(this session)" in here.get("/security/").content.decode()
    listed = SignedInSession.objects.filter(user__email="staff@example.com")
    assert list(listed.values_list("session_key", flat=True)) == [here.session.session_key]

    log_in(there, "staff@example.com", new)
    there.post("/security/sessions/others/")
    assert here.get("/").status_code == 302 and there.get("/").status_code == 200

    log_in(here, "staff@example.com", new)
    here.post(
        "/password/change/", {"old_password": new, "new_password1": PASSWORD, "new_password2": PASSWORD}
    )
    person = User.objects.get(email="staff@example.com")
    admin_client.post(
        "/admin/accounts/user/",
        {"action": "end_all_sessions", "_selected_action": [person.pk], "confirm": "yes"},
    )
    assert here.get("/").status_code == 302


def test_the_administrator_ends_all_sessions_of_a_person(admin_client, make_user):
    here, there = two_sessions(make_user)
    person = User.objects.get(email="staff@example.com")
    page = admin_client.post(
        "/admin/accounts/user/",
        {"action": "end_all_sessions", "_selected_action": [person.pk], "confirm": "yes"},
        follow=True,
    ).content.decode()
    assert "done for 1 account" in page
    assert here.get("/").status_code == 302 and there.get("/").status_code == 302
    event = AuditEvent.objects.filter(event=Event.SESSION_ENDED).latest("pk")
    assert (event.actor_name, event.subject, event.details["count"]) == ("admin@example.com", person, 2)


def test_logging_out_is_in_the_trail(make_user):
    make_user("staff@example.com")
    client = Client()
    log_in(client, "staff@example.com", PASSWORD)
    client.post("/logout/")
    assert AuditEvent.objects.filter(event=Event.SESSION_ENDED, details__scope="logout").count() == 1
    assert not SignedInSession.objects.exists()


# Finding 1: codes by email are for external recipients only.


def test_a_message_link_offers_staff_no_emailed_code(hold_message, make_user, settings, mailbox):
    settings.RECIPIENT_SIGN_IN = "code"
    root = make_user("root@example.com", is_staff=True, is_superuser=True)
    hold_message(["root@example.com"])
    deliver_due()
    notice = next(m for m in mailbox.wait_for(1) if "secure message from" in m["Subject"])
    link = re.search(r"(/m/[A-Za-z0-9_-]{43}/)", notice.get_body(("plain",)).get_content()).group(1)
    client = Client()
    page = client.get(link, follow=True).content.decode()
    assert "We will email you a code" not in page and 'name="password"' in page
    client.post("/login/", {"step": "email_code", "action": "send"})
    deliver_due()
    assert not [m for m in mailbox.messages if "is your code" in m["Subject"]]
    assert root.login_codes.count() == 0


# Finding 2: a reply quotes nothing the replier may not print, and a recall hides the quote.


def reply_as(address, message, make_user, everyone=False):
    from messaging import access

    user = User.objects.get(email=address)
    rights = access.rights(user, message.public_id)
    return message_actions.reply(user, rights, "My answer.", [], everyone=everyone)


def test_a_reply_to_a_restricted_message_quotes_nothing(hold_message, make_user):
    from messaging import mailbox

    original = hold_message(["client@outside.example"], text="Secret figures", restricted=True)
    reply = reply_as("client@outside.example", original, make_user)
    replier = User.objects.get(email="client@outside.example")
    assert mailbox.quote(reply, mailbox.thread(replier, reply)) is None
    from messaging.holding import read_bodies

    assert "Secret figures" not in read_bodies(reply)[0]


def test_a_recall_hides_the_quote_in_the_reply_too(hold_message, make_user):
    from messaging import mailbox

    original = hold_message(["client@outside.example"], text="Secret figures")
    reply = reply_as("client@outside.example", original, make_user)
    replier = User.objects.get(email="client@outside.example")
    assert "Secret figures" in mailbox.quote(reply, mailbox.thread(replier, reply))["text"]
    message_actions.recall(original.sender_user, ActionClient(), original)
    assert mailbox.quote(reply, mailbox.thread(replier, reply)) is None
    own = mailbox.thread(original.sender_user, reply)
    assert "Secret figures" in mailbox.quote(reply, own)["text"]  # the sender's own


def test_reply_all_never_reaches_a_recipient_the_message_was_recalled_from(hold_message, make_user):
    original = hold_message(["client@outside.example", "gone@outside.example"])
    message_actions.recall(
        original.sender_user,
        ActionClient(),
        original,
        original.recipients.get(address="gone@outside.example"),
    )
    reply = reply_as("client@outside.example", original, make_user, everyone=True)
    assert list(reply.recipients.values_list("address", flat=True)) == ["sender@example.com"]


# Finding 3: who someone is and how they sign in is not the helpdesk's to change.


@pytest.fixture
def helpdesk(make_user):
    user = make_user("helpdesk@example.com", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_user", "change_user"], content_type__app_label="accounts"
        )
    )
    client = Client()
    log_in(client, "helpdesk@example.com", PASSWORD)
    return user, client


def change_form(client, user, **changes):
    data = {
        "email": user.email,
        "name": user.name,
        "kind": user.kind,
        "auth_profile": user.auth_profile_id or "",
        "aliases-TOTAL_FORMS": "0",
        "aliases-INITIAL_FORMS": "0",
        **changes,
    }
    return client.post(f"/admin/accounts/user/{user.pk}/change/", data)


def test_the_helpdesk_cannot_turn_a_recipient_into_staff(helpdesk, hold_message):
    _user, client = helpdesk
    hold_message(["client@outside.example"])
    recipient = User.objects.get(email="client@outside.example")
    change_form(client, recipient, kind="internal")
    recipient.refresh_from_db()
    assert recipient.kind == User.Kind.EXTERNAL
    assert not account_events().filter(subject=recipient, event=Event.ACCOUNT_CHANGED).exists()


def test_staff_cannot_move_their_own_account_to_a_profile_without_two_step(helpdesk, make_profile):
    user, client = helpdesk
    make_profile("Strict", domains="example.com", require_two_step=True)
    easy = make_profile("Easy", require_two_step=False)
    change_form(client, user, auth_profile=easy.pk, email="helpdesk@elsewhere.example")
    user.refresh_from_db()
    assert user.auth_profile_id is None and user.email == "helpdesk@example.com"


def test_an_administrator_changes_a_name_and_the_trail_names_the_field(helpdesk, make_user):
    _user, client = helpdesk
    person = make_user("person@example.com", name="Pat")
    change_form(client, person, name="Pat Person")
    event = account_events().get(event=Event.ACCOUNT_CHANGED)
    assert event.details["fields"] == ["name"] and event.details["new"] == {"name": "Pat Person"}


def test_an_alias_is_claimed_only_with_power_over_the_account(helpdesk, make_user):
    _user, client = helpdesk
    boss = make_user("boss@example.com")
    boss.user_permissions.add(Permission.objects.get(codename="delete_user"))
    data = {
        "email": boss.email, "name": boss.name, "kind": boss.kind, "auth_profile": "",
        "aliases-TOTAL_FORMS": "1", "aliases-INITIAL_FORMS": "0", "aliases-0-email": "ceo@example.com",
    }  # fmt: skip
    assert client.post(f"/admin/accounts/user/{boss.pk}/change/", data).status_code == 403
    assert not boss.aliases.exists()


# Finding 4: limits hold under concurrency (several real processes' worth of threads).

PARALLEL = """
import threading
from django.db import connection
from accounts.models import User, portal_permission
from messaging import access, actions, holding
from messaging.models import Message, Notification
from portal.client import Client

sender = User.objects.create_user("sender@example.com", password=None)
message = holding.hold(sender="sender@example.com", sender_user=sender, recipients=["r@outside.example"],
                       source="compose", subject="s", text="t")
reader = User.objects.get(email="r@outside.example")

def twelve(act):
    done, barrier = [], threading.Barrier(12)
    def one():
        barrier.wait()
        try:
            act()
            done.append(1)
        except actions.Refused:
            pass
        finally:
            connection.close()
    threads = [threading.Thread(target=one) for _ in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return len(done)

recipient = message.recipients.get()
resent = twelve(lambda: actions.resend(sender, Client(), Message.objects.get(pk=message.pk).recipients.get()))
replied = twelve(lambda: actions.reply(reader, access.rights(reader, message.public_id), "hi", []))
print(resent, Notification.objects.filter(recipient=recipient, kind="new_message").count(), replied,
      Message.objects.filter(source="reply").count())
"""


@pytest.mark.django_db(transaction=True)
def test_twelve_parallel_resends_and_replies_keep_to_their_limit_of_three(separate_database):
    env = {**separate_database, "RESEND_PER_RECIPIENT_PER_HOUR": "3", "REPLIES_PER_HOUR": "3"}
    manage(env, "migrate", "--no-input", "-v0")
    assert manage(env, "shell", "-v", "0", "-c", PARALLEL).split() == ["3", "4", "3", "3"]


def test_asking_for_codes_keeps_to_the_hours_allowance(hold_message, settings):
    from accounts.methods import email_code

    settings.CODES_PER_ADDRESS_PER_HOUR = 2
    hold_message(["client@outside.example"])
    recipient = User.objects.get(email="client@outside.example")
    asked = [email_code.request_code(recipient, "client@outside.example") for _ in range(4)]
    assert asked == [True, True, False, False]


# Finding 5: a JSON log line's fields come from the code, never from what a client sent.


def test_a_url_cannot_forge_the_fields_of_a_json_log_line():
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s",
        ("/x event=login_succeeded level=info request_id=forged",), None,
    )  # fmt: skip
    record.request_id = "real-id"
    line = json.loads(JsonFormatter().format(record))
    assert (line["event"], line["level"], line["request_id"]) == ("", "warning", "real-id")
    record = logging.LogRecord(
        "portal.login",
        logging.INFO,
        __file__,
        1,
        "event=login_%s reason=%s",
        ("failed", "x event=forged"),
        None,
    )
    record.request_id = "real-id"
    line = json.loads(JsonFormatter().format(record))
    assert (line["event"], line["reason"]) == ("login_failed", "x event=forged")


def test_a_link_token_is_cut_from_a_log_lines_values():
    from portal.logging import RedactLinkTokens

    token = "A" * 43
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/m/{token}/",), None
    )
    RedactLinkTokens().filter(record)
    assert token not in record.getMessage() and "/m/AAAA…" in record.getMessage()


# Finding 6: control characters in a subject or file name do not poison a message.


@pytest.mark.django_db(transaction=True)
def test_a_nul_byte_in_a_subject_and_a_file_name_is_held_without_it(intake):
    import smtplib

    raw = (
        "From: staff@example.com\r\nTo: client@outside.example\r\n"
        "Subject: =?utf-8?q?Figures=00_Q4?=\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n'
        "--b\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="=?utf-8?q?a=00b=0D=0Ac.pdf?="\r\n\r\nPDF\r\n--b--\r\n'
    )
    with smtplib.SMTP("127.0.0.1", intake) as smtp:
        smtp.sendmail("staff@example.com", ["client@outside.example"], raw.encode())
    message = Message.objects.get()
    assert "\x00" not in message.subject and message.subject.startswith("Figures")
    filename = Attachment.objects.get().filename
    assert not re.search(r"[\x00-\x1f]", filename) and filename.endswith("c.pdf")


def test_a_stored_file_name_with_a_line_break_downloads_with_a_clean_header(hold_message, make_user):
    from messaging.holding import IncomingAttachment

    message = hold_message(
        ["client@outside.example"],
        attachments=[IncomingAttachment("ok.pdf", "application/pdf", io.BytesIO(b"PDF"))],
    )
    Attachment.objects.update(filename="evil\r\nSet-Cookie: x=1.pdf")
    client = Client()
    client.force_login(message.sender_user)
    response = client.get(f"/messages/{message.public_id}/attachments/{Attachment.objects.get().public_id}/")
    assert response.status_code == 200
    assert "\n" not in response["Content-Disposition"] and "Set-Cookie" not in response.headers


# Finding 7 (DKIM over-signs) is tried in test_authenticity, with its signing key.


# Finding 8: /check/ counts IPv6 clients by their /64, has a ceiling, and forgets expired messages.


def test_an_ipv6_client_rotating_within_its_64_is_counted_as_one(settings):
    settings.CHECKS_PER_CLIENT = 3
    for n in range(3):
        Client(REMOTE_ADDR=f"2001:db8:1:2::{n + 1}").post("/check/", {"code": "aaaa-aaaa"})
    page = Client(REMOTE_ADDR="2001:db8:1:2::99").post("/check/", {"code": "bbbb-bbbb"}).content.decode()
    assert "Too many checks from your connection." in page
    other = Client(REMOTE_ADDR="2001:db8:1:3::1").post("/check/", {"code": "bbbb-bbbb"}).content.decode()
    assert "Too many checks" not in other


def test_checks_from_everywhere_have_a_ceiling(settings):
    settings.CHECKS_IN_ALL = 4
    for n in range(4):
        Client(REMOTE_ADDR=f"198.51.100.{n + 1}").post("/check/", {"code": "aaaa-aaaa"})
    page = Client(REMOTE_ADDR="203.0.113.77").post("/check/", {"code": "bbbb-bbbb"}).content.decode()
    assert "Too many checks" in page


def test_a_check_code_stops_answering_once_its_message_expired(hold_message, mailbox):
    from .test_authenticity import a_real_check_code

    code = a_real_check_code(hold_message, mailbox)
    Message.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    page = Client().post("/check/", {"code": code}).content.decode()
    assert "No, this portal sent no email with that check code." in page


# Finding 9: the password page does not tell which addresses have a profile of their own.


def test_the_password_page_offers_the_same_for_an_address_with_a_profile_of_its_own(make_user, make_profile):
    passkeys = make_profile("Passkeys", methods="cloud,passkey")
    make_user("special@example.com", auth_profile=passkeys)
    make_user("plain@example.com")

    def password_page(address):
        client = Client()
        page = client.post("/login/", {"step": "identify", "email": address}).content.decode()
        return re.sub(r'value="[^"]*"|[a-z.]+@example\.com', "", page)

    assert password_page("special@example.com") == password_page("plain@example.com")
    assert "passkey" not in password_page("special@example.com").lower()


# Finding 10: /readyz answers only where /metrics does, and probes the storage once in a while.


def test_readyz_is_not_public_and_probes_the_storage_once_in_a_while(settings, tmp_path):
    from portal import health

    settings.TRUSTED_PROXIES = []
    assert Client(REMOTE_ADDR="203.0.113.5").get("/readyz").status_code == 403
    health._storage_probed.update(at=0.0, problem=None)
    assert Client().get("/readyz").status_code == 200
    first = health._storage_probed["at"]
    for _ in range(5):
        assert Client().get("/readyz").status_code == 200
    assert health._storage_probed["at"] == first  # one probe for six calls


def test_a_passkey_answer_with_a_nul_byte_is_refused_not_a_500(make_user):
    AuthProfile.objects.filter(is_default=True).update(methods="cloud,passkey")
    make_user("staff@example.com")
    client = Client()
    client.post("/login/", {"step": "identify", "email": "staff@example.com"})
    client.post("/login/", {"step": "passkey", "action": "options"})
    answer = client.post(
        "/login/", {"step": "passkey", "credential": json.dumps({"rawId": "ab\x00cd", "id": "x"})}
    )
    assert answer.status_code < 500 and GENERIC_FAILURE in answer.content.decode()
