"""The cloud-password lifecycle: forgotten passwords, temporary passwords, the forced change."""

import re
import statistics
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import PasswordHelpRequest, User
from messaging.notify import deliver_due

from .conftest import body_html, body_text
from .helpers import GENERIC_FAILURE, last_attempt, log_in

pytestmark = pytest.mark.django_db(transaction=True)

TEMPORARY = re.compile(r"\b([2-9a-km-np-z]{4}-[2-9a-km-np-z]{4}-[2-9a-km-np-z]{4}-[2-9a-km-np-z]{4})\b")
SAME_ANSWER = "we have sent it an email with what to do next"


def forgot(client, address):
    """Ask for help, then let the notification worker send what is due, as it does every 2 seconds."""
    response = client.post("/password/forgot/", {"email": address}, follow=True)
    deliver_due()
    return response


def temporary_password_in(message):
    return TEMPORARY.search(body_text(message)).group(1)


def test_the_password_step_links_to_the_forgot_password_page(client, make_user):
    client.post("/login/", {"step": "identify", "email": "staff@example.com"})
    page = client.get("/login/").content.decode()
    assert 'href="/password/forgot/"' in page and "Forgot your password?" in page
    page = client.get("/password/forgot/").content.decode()
    assert "Email address" in page and "Send temporary password" in page


def test_a_temporary_password_is_emailed_to_the_address_used(client, make_user, mailbox, settings):
    make_user("staff@example.com", "correct horse battery")
    settings.DEFAULT_FROM_EMAIL = "Secure portal <portal@corp.example>"
    response = forgot(client, "Staff@Example.com")
    assert SAME_ANSWER in response.content.decode()

    (message,) = mailbox.wait_for(1)
    assert message["To"] == "staff@example.com"
    assert message["From"] == "Secure portal <portal@corp.example>"
    temporary = temporary_password_in(message)
    assert len(temporary.replace("-", "")) == 16
    assert not set(temporary) & set("01oilI")
    assert temporary not in message["Subject"]
    assert temporary in body_html(message)
    assert "http://127.0.0.1:8000/login/" in body_text(message)
    # No link carries the password.
    assert not [link for link in re.findall(r'href="([^"]+)"', body_html(message)) if temporary in link]
    user = User.objects.get(email="staff@example.com")
    assert user.temporary_password and temporary not in user.temporary_password
    assert PasswordHelpRequest.objects.get().outcome == "temporary_password"


def test_an_unknown_address_gets_the_same_page_and_no_email(client, make_user, mailbox):
    make_user("staff@example.com")
    unknown = forgot(client, "nobody@example.com").content.decode()
    known = forgot(client, "staff@example.com").content.decode()
    strip = lambda page, address: re.sub(  # noqa: E731
        r'name="csrfmiddlewaretoken" value="[^"]+"', "", page.replace(address, "ADDRESS")
    )
    assert strip(unknown, "nobody@example.com") == strip(known, "staff@example.com")
    mailbox.wait_for(1)
    assert deliver_due() == 0  # drained: the worker has nothing more to send
    assert [m["To"] for m in mailbox.messages] == ["staff@example.com"]


def test_the_temporary_password_typed_by_hand_leads_to_the_forced_change(client, make_user, mailbox):
    make_user("staff@example.com", "correct horse battery")
    forgot(client, "staff@example.com")
    temporary = temporary_password_in(mailbox.wait_for(1)[0])

    typed = temporary.replace("-", " ").upper()  # spaces instead of dashes, caps lock on
    response = log_in(client, "staff@example.com", typed)
    assert response.request["PATH_INFO"] == "/password/change/"
    page = response.content.decode()
    assert "New password" in page and "Confirm new password" in page and "Change password" in page
    # Nothing else is reachable in between: nobody is logged in yet.
    assert client.get("/").status_code == 302
    assert "_auth_user_id" not in client.session

    response = client.post(
        "/password/change/",
        {
            "step": "change",
            "new_password1": "a brand new secret 42",
            "new_password2": "a brand new secret 42",
        },
        follow=True,
    )
    assert "Welcome" in response.content.decode()
    user = User.objects.get(email="staff@example.com")
    assert not user.must_change_password and not user.temporary_password
    assert user.check_password("a brand new secret 42")

    for old in (temporary, "correct horse battery"):
        assert GENERIC_FAILURE in log_in(Client(), "staff@example.com", old).content.decode()
    assert "Welcome" in log_in(Client(), "staff@example.com", "a brand new secret 42").content.decode()


def test_the_temporary_password_works_as_emailed_after_its_first_use(client, make_user, mailbox):
    """Someone who closed the browser at the forced change comes back with the email: the password as
    it shows there, dashes and all, still leads to the change (it was stored compacted and compared as
    typed)."""
    make_user("staff@example.com", "correct horse battery")
    forgot(client, "staff@example.com")
    temporary = temporary_password_in(mailbox.wait_for(1)[0])
    assert log_in(client, "staff@example.com", temporary).request["PATH_INFO"] == "/password/change/"

    for typed in (temporary, temporary.replace("-", ""), temporary.upper()):
        response = log_in(Client(), "staff@example.com", typed)
        assert response.request["PATH_INFO"] == "/password/change/", typed
    assert GENERIC_FAILURE in log_in(Client(), "staff@example.com", "correct horse battery").content.decode()


@pytest.mark.parametrize(
    ("new_password", "error"),
    [
        ("short1", "This password is too short"),
        ("password1234", "This password is too common"),
        ("staff.example.com", "too similar to the email address"),
        ("TEMPORARY", "must differ from your current one"),
    ],
)
def test_the_new_password_must_pass_the_validators(client, make_user, mailbox, new_password, error):
    make_user("staff.person@example.com", "correct horse battery")
    forgot(client, "staff.person@example.com")
    temporary = temporary_password_in(mailbox.wait_for(1)[0])
    log_in(client, "staff.person@example.com", temporary)
    if new_password == "TEMPORARY":
        new_password = temporary
    if new_password == "staff.example.com":
        new_password = "staff.person@example"
    response = client.post(
        "/password/change/", {"step": "change", "new_password1": new_password, "new_password2": new_password}
    )
    assert error in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_current_password_works_until_the_temporary_one_is_used(client, make_user, mailbox):
    make_user("staff@example.com", "correct horse battery")
    forgot(client, "staff@example.com")
    mailbox.wait_for(1)
    assert "Welcome" in log_in(Client(), "staff@example.com", "correct horse battery").content.decode()


def test_a_new_request_replaces_the_earlier_temporary_password(client, make_user, mailbox):
    make_user("staff@example.com", "correct horse battery")
    forgot(client, "staff@example.com")
    first = temporary_password_in(mailbox.wait_for(1)[0])
    forgot(client, "staff@example.com")
    second = temporary_password_in(mailbox.wait_for(2)[1])
    assert first != second
    assert GENERIC_FAILURE in log_in(Client(), "staff@example.com", first).content.decode()
    assert last_attempt().reason == "bad_password"
    response = log_in(Client(), "staff@example.com", second)
    assert response.request["PATH_INFO"] == "/password/change/"


def test_an_expired_temporary_password_gets_the_generic_message(client, make_user, mailbox, make_profile):
    make_profile("Short-lived", domains="example.com", temporary_password_hours=2)
    make_user("staff@example.com", "correct horse battery")
    forgot(client, "staff@example.com")
    temporary = temporary_password_in(mailbox.wait_for(1)[0])
    with time_machine.travel(timezone.now() + timedelta(hours=2, minutes=1)):
        page = log_in(client, "staff@example.com", temporary).content.decode()
    assert GENERIC_FAILURE in page
    assert last_attempt().reason == "temporary_password_expired"
    assert last_attempt().reference in page


def test_changing_the_password_ends_every_other_session(client, make_user, mailbox):
    make_user("staff@example.com", "correct horse battery")
    elsewhere = Client()
    log_in(elsewhere, "staff@example.com", "correct horse battery")
    assert elsewhere.get("/").status_code == 200

    forgot(client, "staff@example.com")
    temporary = temporary_password_in(mailbox.wait_for(1)[0])
    log_in(client, "staff@example.com", temporary)
    client.post(
        "/password/change/",
        {
            "step": "change",
            "new_password1": "a brand new secret 42",
            "new_password2": "a brand new secret 42",
        },
    )
    assert client.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302


@pytest.mark.parametrize(
    ("methods", "self_service", "has_password", "outcome", "words"),
    [
        ("network", True, False, "network_password", "You log in with your network password"),
        ("saml", True, False, "single_sign_on", "through your organisation's single sign-on"),
        ("cloud", True, False, "temporary_password", "Temporary password:"),
        ("cloud", False, False, "ask_administrator", "only your administrator can set one up"),
        ("cloud", False, True, "temporary_password", "Temporary password:"),
        ("network,cloud", True, True, "temporary_password", "Temporary password:"),
    ],
)
def test_the_email_says_how_the_person_signs_in(
    client, make_user, make_profile, mailbox, methods, self_service, has_password, outcome, words
):
    profile = make_profile(
        "Corp", domains="corp.example", methods=methods, allow_self_service_password=self_service
    )
    make_user("kim@corp.example", "correct horse battery" if has_password else None, auth_profile=profile)
    assert SAME_ANSWER in forgot(client, "kim@corp.example").content.decode()
    (message,) = mailbox.wait_for(1)
    assert words in body_text(message) and words in body_html(message)
    assert PasswordHelpRequest.objects.get().outcome == outcome


def test_a_person_with_no_cloud_password_sets_one_up_through_the_same_path(client, make_user, mailbox):
    make_user("new@example.com", None)
    forgot(client, "new@example.com")
    temporary = temporary_password_in(mailbox.wait_for(1)[0])
    response = log_in(client, "new@example.com", temporary)
    assert response.request["PATH_INFO"] == "/password/change/"


def test_requests_are_limited_per_address_silently(client, make_user, mailbox):
    make_user("staff@example.com")
    pages = [forgot(client, "staff@example.com").content.decode() for _ in range(4)]
    assert all(SAME_ANSWER in page for page in pages)
    mailbox.wait_for(3)
    assert deliver_due() == 0  # drained: the worker has nothing more to send
    assert len(mailbox.messages) == 3
    assert PasswordHelpRequest.objects.filter(outcome="limited").count() == 1


def test_requests_are_limited_per_client_silently(client, make_user, mailbox):
    for i in range(11):
        make_user(f"person{i}@example.com")
    for i in range(11):
        assert SAME_ANSWER in forgot(client, f"person{i}@example.com").content.decode()
    mailbox.wait_for(10)
    assert deliver_due() == 0  # drained: the worker has nothing more to send
    assert len(mailbox.messages) == 10
    assert PasswordHelpRequest.objects.get(outcome="limited").email_entered == "person10@example.com"


def test_an_administrators_must_change_reaches_a_signed_in_person_at_once(client, make_user):
    user = make_user("staff@example.com", "correct horse battery")
    log_in(client, "staff@example.com", "correct horse battery")
    User.objects.filter(pk=user.pk).update(must_change_password=True)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/password/change/"
    page = client.get("/password/change/").content.decode()
    assert "Current password" in page
    response = client.post(
        "/password/change/",
        {
            "old_password": "correct horse battery",
            "new_password1": "a brand new secret 42",
            "new_password2": "a brand new secret 42",
        },
        follow=True,
    )
    assert "Your password has been changed." in response.content.decode()
    assert client.get("/").status_code == 200


def test_a_relay_outage_delays_the_email_and_loses_nothing(client, make_user, mailbox):
    from messaging.notify import deliver_due

    staff = make_user("staff@example.com", "correct horse battery")
    mailbox.go_down()
    assert SAME_ANSWER in forgot(client, "staff@example.com").content.decode()
    staff.refresh_from_db()
    assert not staff.temporary_password  # not issued while it cannot be sent
    request = PasswordHelpRequest.objects.get()
    assert request.sent_at is None and request.attempts == 1 and request.last_error
    mailbox.come_back()
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert deliver_due() == 1
        assert deliver_due() == 0
    temporary = temporary_password_in(mailbox.wait_for(1)[0])
    assert deliver_due() == 0  # drained: the worker has nothing more to send
    assert len(mailbox.messages) == 1
    request.refresh_from_db()
    assert request.sent_at and request.attempts == 2 and not request.last_error
    assert 'name="new_password1"' in log_in(client, "staff@example.com", temporary).content.decode()


def _median_seconds(action, rounds=20):
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def test_the_forgot_password_page_asks_the_database_the_same_for_a_known_address_as_an_unknown(
    client, make_user, make_profile
):
    """The page looks up no account (the worker does): nothing in its work tells the two apart."""
    make_profile("Corp", domains="corp.example", methods="cloud")
    make_user("staff@corp.example")
    client.post("/password/forgot/", {"email": "warm@corp.example"})  # the branding, cached from now on
    asked = {}
    for address in ("staff@corp.example", "nobody@corp.example"):
        with CaptureQueriesContext(connection) as queries:
            assert SAME_ANSWER in client.post("/password/forgot/", {"email": address}).content.decode()
        sql = [re.sub(r"'\d{4}-[^']*'", "<time>", query["sql"]) for query in queries]
        asked[address] = [text.replace(address, "<address>") for text in sql]
    assert asked["staff@corp.example"] == asked["nobody@corp.example"]
    accounts = [text for text in asked["nobody@corp.example"] if "accounts_user" in text or "alias" in text]
    assert not accounts


def test_the_forgot_password_answer_takes_as_long_for_a_known_address_as_an_unknown(
    client, make_user, mailbox, settings
):
    settings.PASSWORD_HELP_PER_ADDRESS_PER_HOUR = settings.PASSWORD_HELP_PER_CLIENT_PER_HOUR = 1000
    make_user("staff@example.com")
    forgot(client, "warm@example.com")
    known, unknown = [], []
    for _ in range(9):  # interleaved, so a slow moment of the machine hits both alike
        known.append(
            _median_seconds(lambda: client.post("/password/forgot/", {"email": "staff@example.com"}), 5)
        )
        unknown.append(
            _median_seconds(lambda: client.post("/password/forgot/", {"email": "nobody@example.com"}), 5)
        )
    known, unknown = statistics.median(known), statistics.median(unknown)
    assert abs(known - unknown) / max(known, unknown) < 0.25, (known, unknown)
