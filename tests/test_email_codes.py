"""One-time codes by email for recipients who came through a message link: no password needed."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import LoginCode, User
from messaging.notify import deliver_due

from .helpers import GENERIC_FAILURE, last_attempt

pytestmark = pytest.mark.django_db(transaction=True)
LINK = re.compile(r"http://127\.0\.0\.1:8000(/m/[A-Za-z0-9_-]{43}/)")
CODE = re.compile(r"^(\d{6})\r?$", re.MULTILINE)


def text(email):
    return email.get_body(preferencelist=("plain",)).get_content()


def the_link(mailbox):
    deliver_due()
    notice = next(m for m in mailbox.messages if "secure message from" in m["Subject"])
    return LINK.search(text(notice)).group(1)


def ask_for_a_code(client, mailbox, already=0):
    page = client.post("/login/", {"step": "email_code", "action": "send"}).content.decode()
    assert "A code is on its way to your email." in page
    deliver_due()
    email = mailbox.wait_for(already + 1)[-1]
    return CODE.search(text(email)).group(1), email


def type_code(client, code):
    return client.post("/login/", {"step": "email_code", "action": "verify", "code": code}, follow=True)


def test_with_codes_a_first_time_recipient_reads_with_a_code_and_no_password(hold_message, mailbox, settings):
    settings.RECIPIENT_SIGN_IN = "code"
    message = hold_message(["client@outside.example"])
    link = the_link(mailbox)
    assert len(mailbox.messages) == 1  # the notification only: no temporary password
    client = Client()
    page = client.get(link, follow=True).content.decode()
    assert "We will email you a code to log in with. You need no password." in page
    code, email = ask_for_a_code(client, mailbox, already=1)
    assert email["To"] == "client@outside.example" and f"{code} is your code for" in email["Subject"]
    assert "It works once, for 10 minutes." in text(email)
    assert "We never ask for this code by phone" in text(email)
    page = type_code(client, code)
    assert page.redirect_chain[-1][0] == f"/messages/{message.public_id}/"
    assert "The figures are attached." in page.content.decode()
    attempt = last_attempt()
    assert (attempt.outcome, attempt.method) == ("success", "email_code")
    assert not User.objects.get(email="client@outside.example").has_usable_password()
    assert code not in str(list(LoginCode.objects.values_list("code_hash", flat=True)))


def test_a_code_works_once(hold_message, mailbox, settings):
    settings.RECIPIENT_SIGN_IN = "code"
    hold_message(["client@outside.example"])
    link = the_link(mailbox)
    first = Client()
    first.get(link)
    code, _email = ask_for_a_code(first, mailbox, already=1)
    type_code(first, code)
    second = Client()
    second.get(link)
    second.post("/login/", {"step": "email_code", "action": "send"})  # asks, but types the old code
    assert GENERIC_FAILURE in type_code(second, code).content.decode()
    assert last_attempt().reason == "bad_code"


def test_a_new_code_voids_the_last_and_an_old_one_expires(hold_message, mailbox, settings):
    settings.RECIPIENT_SIGN_IN = "code"
    settings.LOGIN_STATE_SECONDS = 3600  # the login outlives the code
    hold_message(["client@outside.example"])
    client = Client()
    client.get(the_link(mailbox))
    old, _ = ask_for_a_code(client, mailbox, already=1)
    new, _ = ask_for_a_code(client, mailbox, already=2)
    assert GENERIC_FAILURE in type_code(client, old).content.decode()
    client.post("/login/", {"step": "email_code", "action": "send"})
    deliver_due()
    newest = CODE.search(text(mailbox.wait_for(4)[-1])).group(1)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert GENERIC_FAILURE in type_code(client, newest).content.decode()


def test_five_wrong_tries_use_a_code_up(hold_message, mailbox, settings):
    settings.RECIPIENT_SIGN_IN = "code"
    hold_message(["client@outside.example"])
    client = Client()
    link = the_link(mailbox)
    client.get(link)
    code, _ = ask_for_a_code(client, mailbox, already=1)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert GENERIC_FAILURE in type_code(client, wrong).content.decode()
    assert GENERIC_FAILURE in type_code(client, code).content.decode()


def test_with_either_the_password_page_offers_a_code(hold_message, mailbox, settings):
    settings.RECIPIENT_SIGN_IN = "either"
    message = hold_message(["client@outside.example"])
    link = the_link(mailbox)
    client = Client()
    page = client.get(link, follow=True).content.decode()
    assert 'name="password"' in page and "Email me a code instead" in page
    code, _ = ask_for_a_code(client, mailbox, already=2)  # the notification and the temporary password
    page = type_code(client, code)
    assert page.redirect_chain[-1][0] == f"/messages/{message.public_id}/"


def test_codes_are_only_for_message_links(make_user, settings):
    settings.RECIPIENT_SIGN_IN = "either"
    make_user("staff@example.com")
    client = Client()
    client.post("/login/", {"step": "identify", "email": "staff@example.com"})
    page = client.get("/login/").content.decode()
    assert "Email me a code" not in page
    client.post("/login/", {"step": "email_code", "action": "send"})
    assert not LoginCode.objects.exists()


def test_code_guesses_count_towards_the_lockout(hold_message, mailbox, settings):
    settings.RECIPIENT_SIGN_IN = "code"
    settings.LOCKOUT_FAILURES_PER_ADDRESS = 3
    hold_message(["client@outside.example"])
    link = the_link(mailbox)
    client = Client()
    client.get(link)
    code, _ = ask_for_a_code(client, mailbox, already=1)
    for _ in range(3):
        type_code(client, "000000" if code != "000000" else "111111")
    assert GENERIC_FAILURE in type_code(client, code).content.decode()
    assert last_attempt().reason == "locked_out"


def test_the_code_email_is_in_the_recipients_language(hold_message, mailbox, settings):
    settings.RECIPIENT_SIGN_IN = "code"
    hold_message(["client@outside.example"])
    link = the_link(mailbox)
    User.objects.filter(email="client@outside.example").update(language="fr")
    client = Client()
    client.get(link)
    code, email = ask_for_a_code(client, mailbox, already=1)
    assert f"{code} est votre code pour" in email["Subject"]
    assert "Nous ne vous demandons jamais ce code par téléphone" in text(email)


def test_a_mistyped_code_can_be_typed_again_on_the_same_page(hold_message, mailbox, settings):
    settings.RECIPIENT_SIGN_IN = "code"
    message = hold_message(["client@outside.example"])
    client = Client()
    client.get(the_link(mailbox))
    code, _ = ask_for_a_code(client, mailbox, already=1)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    page = type_code(client, wrong).content.decode()
    assert GENERIC_FAILURE in page and 'name="code"' in page  # the code field again, not "send a code"
    assert last_attempt().reason == "bad_code"
    page = type_code(client, code)
    assert page.redirect_chain[-1][0] == f"/messages/{message.public_id}/"


def test_asking_for_a_new_code_does_not_reset_the_wrong_tries(hold_message, mailbox, settings):
    settings.RECIPIENT_SIGN_IN = "code"
    hold_message(["client@outside.example"])
    client = Client()
    client.get(the_link(mailbox))
    code, _ = ask_for_a_code(client, mailbox, already=1)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(3):
        type_code(client, wrong)
    new_code, _ = ask_for_a_code(client, mailbox, already=2)
    other_wrong = f"{(int(new_code) + 1) % 10**6:06d}"
    for _ in range(2):
        type_code(client, other_wrong)
    assert GENERIC_FAILURE in type_code(client, new_code).content.decode()  # five wrong tries in all
