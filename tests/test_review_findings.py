"""The outside review's findings, one test (or a few) each: every one failed before its fix."""

import re
import smtplib
import time
from datetime import timedelta
from email.message import EmailMessage

import argon2
import pytest
from django.test import Client
from django.utils import timezone

from accounts import passwords, twostep
from accounts.models import EmailAlias, LoginAttempt, Throttle, User
from messaging.models import Message, Recipient
from messaging.notify import deliver_due

from .helpers import GENERIC_FAILURE, last_attempt, log_in

pytestmark = pytest.mark.django_db(transaction=True)
LINK = re.compile(r"http://127\.0\.0\.1:8000/m/([A-Za-z0-9_-]{43})/")


# 1. Two-step set up by choice is asked for.


def test_two_step_set_up_by_choice_is_asked_for_at_every_login(make_user):
    user = make_user("staff@example.com")  # the built-in default profile does not require two-step
    device = twostep.start_enrolment(user)
    device.confirmed = True
    device.save()
    page = log_in(Client(), "staff@example.com", "correct horse battery").content.decode()
    assert "Welcome" not in page and 'name="code"' in page
    assert not LoginAttempt.objects.filter(outcome="success").exists()


# 2. A held HTML body cannot stop the workers.


def test_a_body_of_a_hundred_thousand_blanks_opens_at_once(hold_message):
    message = hold_message(["client@outside.example"], html="<p>x" + " " * 100_000 + 'y</p><img src="cid:a">')
    reader = Client()
    reader.force_login(User.objects.get(email="client@outside.example"))
    started = time.perf_counter()
    response = reader.get(f"/messages/{message.public_id}/")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed < 3, f"opening took {elapsed:.1f} s: the inline-image rewrite is not linear"


# 3. Behind a load balancer, the client is the one the balancer names.


def test_x_forwarded_for_is_ignored_from_a_client_that_is_no_trusted_proxy(make_user):
    make_user("staff@example.com")
    log_in(
        Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.1"), "staff@example.com", "wrong!"
    )
    assert last_attempt().ip == "203.0.113.9"


def test_behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_address(make_user, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    make_user("staff@example.com")
    # The client made up the first entry; the balancer appended the real one, then an inner proxy's.
    forwarded = "192.0.2.66, 198.51.100.7, 10.1.2.3"
    log_in(Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded), "staff@example.com", "wrong!")
    assert last_attempt().ip == "198.51.100.7"


def test_behind_a_load_balancer_one_client_locks_out_only_itself(make_user, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.LOCKOUT_FAILURES_PER_CLIENT = 3
    make_user("staff@example.com")
    for guess in range(3):
        attacker = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
        log_in(attacker, f"someone{guess}@example.com", "a guess")
    assert Throttle.objects.get(scope="client").key == "198.51.100.7"
    colleague = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert "Welcome" in log_in(colleague, "staff@example.com", "correct horse battery").content.decode()


def test_the_message_audit_records_the_client_behind_the_proxy(hold_message, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    message = hold_message(["client@outside.example"])
    reader = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    reader.force_login(User.objects.get(email="client@outside.example"))
    reader.get(f"/messages/{message.public_id}/")
    assert message.access_events.get().ip == "198.51.100.7"


# 4. Every wrong guess costs the same Argon2 work, whatever the account's state.


@pytest.fixture
def argon2_count(monkeypatch):
    """How many Argon2 computations ran (hashes and verifications), counted in the library itself."""
    counted = {"n": 0}
    hash_secret, verify_secret = argon2.low_level.hash_secret, argon2._password_hasher.verify_secret

    def counting(function):
        def wrapper(*args, **kwargs):
            counted["n"] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(argon2.low_level, "hash_secret", counting(hash_secret))
    monkeypatch.setattr(argon2._password_hasher, "verify_secret", counting(verify_secret))
    return counted


def test_every_wrong_guess_costs_one_argon2_whatever_the_account(make_user, argon2_count):
    make_user("password@example.com")
    pending = make_user("pending@example.com")
    passwords.issue_temporary_password(pending)  # anyone can cause this with "forgotten password"
    fresh = make_user("fresh@example.com", None)
    passwords.issue_temporary_password(fresh)
    make_user("none@example.com", None)
    costs = {}
    for address in ["nobody@example.com", "password@example.com", "pending@example.com", "fresh@example.com",
                    "none@example.com"]:  # fmt: skip
        argon2_count["n"] = 0
        page = log_in(Client(), address, "a wrong guess").content.decode()
        assert GENERIC_FAILURE in page
        costs[address] = argon2_count["n"]
    assert set(costs.values()) == {1}, costs


# 5. The change-password page counts its guesses like a login.


def test_the_change_password_page_locks_like_a_login(make_user, settings):
    make_user("staff@example.com")
    client = Client()
    log_in(client, "staff@example.com", "correct horse battery")
    new = {"new_password1": "a brand new secret 9", "new_password2": "a brand new secret 9"}
    for _ in range(settings.LOCKOUT_FAILURES_PER_ADDRESS):
        page = client.post("/password/change/", {"old_password": "a wrong guess", **new}).content.decode()
        assert "Your old password was entered incorrectly" in page
    page = client.post("/password/change/", {"old_password": "correct horse battery", **new}).content.decode()
    assert "Too many wrong passwords" in page
    assert User.objects.get(email="staff@example.com").check_password("correct horse battery")
    assert GENERIC_FAILURE in log_in(Client(), "staff@example.com", "correct horse battery").content.decode()
    assert last_attempt().reason == "locked_out"


# 6. Aliases bring no extra guesses.


def test_guesses_through_aliases_count_against_the_account(make_user, settings):
    user = make_user("staff@example.com")
    addresses = ["staff@example.com"]
    for n in range(3):
        EmailAlias.objects.create(user=user, email=f"alias{n}@example.com")
        addresses.append(f"alias{n}@example.com")
    for guess in range(settings.LOCKOUT_FAILURES_PER_ADDRESS):
        log_in(Client(REMOTE_ADDR=f"192.0.2.{guess}"), addresses[guess % 4], "a wrong guess")
    page = log_in(Client(REMOTE_ADDR="192.0.2.99"), "alias2@example.com", "correct horse battery")
    assert GENERIC_FAILURE in page.content.decode()
    assert last_attempt().reason == "locked_out"


# 7. No usable link token is stored or shown.


def _database_text():
    from django.db import connection

    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            values += [
                str(bytes(v) if isinstance(v, memoryview) else v) for row in cursor.fetchall() for v in row
            ]
    return "\n".join(values)


def test_a_link_login_stores_and_shows_no_token(hold_message, mailbox):
    hold_message(["client@outside.example"])
    deliver_due()
    notice = next(m for m in mailbox.wait_for(2) if "secure message from" in m["Subject"])
    token = LINK.search(notice.get_body(preferencelist=("plain",)).get_content()).group(1)
    client = Client()
    client.get(f"/m/{token}/")
    page = client.post("/login/", {"step": "verify", "password": "a wrong guess"}).content.decode()
    assert GENERIC_FAILURE in page
    assert token not in page and f"/m/{token[:4]}…/" in page
    assert last_attempt().url == f"http://testserver/m/{token[:4]}…/"
    assert token not in _database_text()  # sessions included


def test_a_migration_cuts_the_tokens_of_earlier_login_attempts(db):
    import importlib

    from django.apps import apps

    token = "Abcd" + "x" * 39
    attempt = LoginAttempt.objects.create(
        email_entered="a@b.example",
        outcome="failure",
        reference="AAAA-BBBB",
        url=f"https://portal/m/{token}/",
    )
    importlib.import_module("accounts.migrations.0009_scrub_link_tokens").scrub(apps, None)
    attempt.refresh_from_db()
    assert attempt.url == "https://portal/m/Abcd…/"


# 8. Sender options that cannot be read keep the default, and the mail is held.


def a_mail(header, value):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = (
        "sender@example.com",
        "client@outside.example",
        "Figures",
    )
    message[header] = value
    message.set_content("See attached.")
    return message


def held_for_the_default_thirty_days():
    held = Message.objects.get()
    return timedelta(days=29) < held.expires_at - timezone.now() <= timedelta(days=30, minutes=1)


@pytest.mark.parametrize("value", ["2001-01-01", "2999-01-01", "31/12/2030"])
def test_an_expiry_date_that_cannot_be_used_keeps_the_default_and_is_held(intake, value):
    with smtplib.SMTP("127.0.0.1", intake, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("sender@example.com")
        smtp.rcpt("client@outside.example")
        code, answer = smtp.data(a_mail("X-Portal-Expires", value).as_bytes())
    assert code == 250, answer
    assert held_for_the_default_thirty_days()


@pytest.mark.parametrize("days", ["9" * 900, "9" * 5000, "0", "-3", "7.5"])
def test_expiry_days_that_cannot_be_read_keep_the_default_and_are_held(days):
    from messaging.intake import hold_mail

    # SMTP lines stop at 1,000 characters; a relay that unfolds long headers can still hand over more.
    raw = (
        a_mail("X-Portal-Expires-Days", "1")
        .as_bytes()
        .replace(b"X-Portal-Expires-Days: 1", f"X-Portal-Expires-Days: {days}".encode())
    )
    hold_mail("sender@example.com", ["client@outside.example"], raw)
    assert held_for_the_default_thirty_days()


# 10. Resend and reply are no mail cannons.


def test_a_recipient_gets_at_most_three_resends_an_hour(hold_message):
    message = hold_message(["client@outside.example"])
    recipient = message.recipients.get()
    sender = Client()
    sender.force_login(message.sender_user)
    for _ in range(3):
        page = sender.post(
            f"/messages/{message.public_id}/resend/{recipient.pk}/", follow=True
        ).content.decode()
        assert "A new notification is on its way" in page
    queued = recipient.notifications.count()
    page = sender.post(f"/messages/{message.public_id}/resend/{recipient.pk}/", follow=True).content.decode()
    assert "has been sent 3 notifications in the last hour; try again later." in page
    assert recipient.notifications.count() == queued


def test_a_person_sends_at_most_the_replies_allowed_an_hour(hold_message, settings):
    settings.REPLIES_PER_HOUR = 2
    message = hold_message(["client@outside.example"])
    reader = Client()
    reader.force_login(User.objects.get(email="client@outside.example"))
    for _ in range(2):
        reader.post(f"/messages/{message.public_id}/reply/", {"body": "Thank you."})
    page = reader.post(f"/messages/{message.public_id}/reply/", {"body": "Thank you."}).content.decode()
    assert "You have sent 2 replies in the last hour; please try again later." in page
    assert Message.objects.filter(source="reply").count() == 2
    assert Recipient.objects.filter(message__source="reply").count() == 2


# 11. A new PORTAL_NAME shows after a restart, whatever the cache holds.


def test_a_new_portal_name_shows_although_the_branding_was_cached(client, settings):
    settings.PORTAL_NAME = "Old Name Portal"
    assert "Old Name Portal" in client.get("/login/").content.decode()  # now in the cache
    settings.PORTAL_NAME = "New Name Portal"  # the operator renames it and restarts; the file cache stays
    page = client.get("/login/").content.decode()
    assert "New Name Portal" in page and "Old Name Portal" not in page
