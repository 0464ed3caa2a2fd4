"""The login flow with cloud passwords: what a person sees and what the audit log holds."""

import re
import statistics
import time

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session

from accounts.models import EmailAlias, LoginAttempt, portal_permission

from .helpers import GENERIC_FAILURE, last_attempt, log_in

pytestmark = pytest.mark.django_db


def test_the_login_asks_for_the_address_first_then_the_password(client, make_user):
    make_user("staff@example.com")
    page = client.get("/login/").content.decode()
    assert "Email address" in page and ">Next<" in page
    assert 'type="password"' not in page

    response = client.post("/login/", {"step": "identify", "email": "Staff@Example.com"}, follow=True)
    page = response.content.decode()
    assert "Password" in page and ">Log in<" in page
    assert "staff@example.com" in page


def test_staff_user_logs_in_with_a_cloud_password_and_sees_the_portal(client, make_user):
    make_user("staff@example.com", "correct horse battery", name="Sam Staff")
    response = log_in(client, "staff@example.com", "correct horse battery")
    page = response.content.decode()
    assert response.request["PATH_INFO"] == "/"
    assert "Welcome, Sam Staff" in page
    assert "Log out" in page
    attempt = last_attempt()
    assert (attempt.outcome, attempt.reason, attempt.method) == ("success", "", "cloud")
    assert attempt.user.email == "staff@example.com"


def test_an_unknown_address_gets_the_same_password_step_as_a_known_one(client, make_user):
    make_user("staff@example.com")
    known = client.post("/login/", {"step": "identify", "email": "staff@example.com"}, follow=True)
    client.get("/login/?restart=1")
    unknown = client.post("/login/", {"step": "identify", "email": "nobody@example.com"}, follow=True)
    assert _page_without(known, "staff@example.com") == _page_without(unknown, "nobody@example.com")


def _page_without(response, address):
    """The page with the address and the (per-response masked) CSRF token blanked out."""
    page = response.content.decode().replace(address, "ADDRESS")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", page)


def _make_failure(kind, make_user, make_profile):
    """Set up one of the ways a login fails; return (address, password, expected reason)."""
    if kind == "bad_password":
        make_user("staff@example.com", "correct horse battery")
        return "staff@example.com", "wrong password here", "bad_password"
    if kind == "unknown_user":
        return "nobody@example.com", "correct horse battery", "unknown_user"
    if kind == "no_cloud_password":
        make_user("staff@example.com", None)
        return "staff@example.com", "correct horse battery", "no_cloud_password"
    if kind == "no_permission":
        make_user("staff@example.com", "correct horse battery", portal=False)
        return "staff@example.com", "correct horse battery", "no_permission"
    if kind == "method_not_allowed":
        profile = make_profile("SSO only", domains="sso.example", methods="saml")
        make_user("staff@sso.example", "correct horse battery", auth_profile=profile)
        return "staff@sso.example", "correct horse battery", "method_not_allowed"
    if kind == "wrong_url":
        make_user("recipient@outside.example", "correct horse battery", kind="external", portal=False)
        return "recipient@outside.example", "correct horse battery", "wrong_url"
    if kind == "inactive":
        make_user("staff@example.com", "correct horse battery", is_active=False)
        return "staff@example.com", "correct horse battery", "inactive"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "bad_password",
        "unknown_user",
        "no_cloud_password",
        "no_permission",
        "method_not_allowed",
        "wrong_url",
        "inactive",
    ],
)
def test_every_failure_shows_the_same_words_and_a_reference_the_audit_log_holds(
    client, make_user, make_profile, kind
):
    address, password, reason = _make_failure(kind, make_user, make_profile)
    response = log_in(client, address, password)
    page = response.content.decode()

    assert GENERIC_FAILURE in page
    attempt = last_attempt()
    assert (attempt.outcome, attempt.reason) == ("failure", reason)
    assert attempt.reference in page
    assert attempt.email_entered == address
    # The troubleshooting facts are there; the reason is not.
    for fact in ("URL used", "http://testserver/login/", "Date and time", "Browser", address):
        assert fact in page
    assert reason not in page
    assert "_auth_user_id" not in client.session


def test_a_failed_login_lets_the_person_try_the_password_again(client, make_user):
    make_user("staff@example.com", "correct horse battery")
    page = log_in(client, "staff@example.com", "wrong password here").content.decode()
    assert 'name="password"' in page
    response = client.post("/login/", {"step": "verify", "password": "correct horse battery"}, follow=True)
    assert "Welcome" in response.content.decode()


def test_signing_in_with_an_alias_signs_in_the_primary_address(client, make_user):
    user = make_user("sam.staff@example.com")
    EmailAlias.objects.create(user=user, email="Sam@Example.com")
    response = log_in(client, "sam@example.com", "correct horse battery")
    assert "You are logged in as sam.staff@example.com" in response.content.decode()
    attempt = last_attempt()
    assert attempt.user == user
    assert attempt.alias_used and attempt.reason == "alias_used"
    assert attempt.email_entered == "sam@example.com"


def test_the_permission_through_a_group_is_enough(client, make_user):
    user = make_user("staff@example.com", portal=False)
    group = Group.objects.create(name="Portal users")
    group.permissions.add(portal_permission())
    user.groups.add(group)
    assert "Welcome" in log_in(client, "staff@example.com", "correct horse battery").content.decode()


def test_a_login_starts_a_new_session_and_the_old_key_is_dead(client, make_user):
    make_user("staff@example.com")
    client.post("/login/", {"step": "identify", "email": "staff@example.com"})
    before = client.session.session_key
    client.post("/login/", {"step": "verify", "password": "correct horse battery"})
    after = client.session.session_key
    assert before and after and before != after
    assert not Session.objects.filter(session_key=before).exists()
    assert client.get("/").status_code == 200


def test_the_session_lasts_as_long_as_the_profile_says(client, make_user, make_profile):
    profile = make_profile("Short", domains="example.com", session_minutes=15)
    make_user("staff@example.com", auth_profile=None)
    log_in(client, "staff@example.com", "correct horse battery")
    assert client.session.get_expiry_age() == 15 * 60
    assert profile.users.count() == 0  # it applied through the domain


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("/admin/", "/admin/"),
        ("https://evil.example/steal", "/"),
        ("//evil.example/", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_after_login_only_a_safe_next_is_followed(client, make_user, next_url, lands_on):
    make_user("staff@example.com", is_staff=True, is_superuser=True)
    client.get("/login/", {"next": next_url})
    client.post("/login/", {"step": "identify", "email": "staff@example.com"})
    response = client.post("/login/", {"step": "verify", "password": "correct horse battery"})
    assert response.status_code == 302
    assert response["Location"] == lands_on


def test_pages_of_the_portal_send_anonymous_people_to_the_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/")


def test_the_admin_login_is_the_portal_login(client, make_user):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=%2Fadmin%2F"


def test_log_out_needs_a_post_and_ends_the_session(client, make_user):
    make_user("staff@example.com")
    log_in(client, "staff@example.com", "correct horse battery")
    asked = client.get("/logout/")  # a typed or bookmarked address: a page that asks, with a button
    assert asked.status_code == 200
    assert '<button type="submit" class="primary">Log out</button>' in asked.content.decode()
    assert client.get("/").status_code == 200  # the GET logged nobody out
    response = client.post("/logout/", follow=True)
    assert "You have logged out." in response.content.decode()
    assert client.get("/").status_code == 302


def test_the_half_finished_login_expires(client, make_user, settings):
    make_user("staff@example.com")
    settings.LOGIN_STATE_SECONDS = 0
    client.post("/login/", {"step": "identify", "email": "staff@example.com"})
    time.sleep(0.01)
    response = client.post("/login/", {"step": "verify", "password": "correct horse battery"}, follow=True)
    assert "_auth_user_id" not in client.session
    assert "Email address" in response.content.decode()


def test_a_password_cannot_be_posted_without_an_address_first(client, make_user):
    make_user("staff@example.com")
    response = client.post("/login/", {"step": "verify", "password": "correct horse battery"})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session
    assert not LoginAttempt.objects.exists()


def test_a_login_form_without_csrf_token_is_refused(make_user):
    from django.test import Client

    make_user("staff@example.com")
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/login/", {"step": "identify", "email": "staff@example.com"})
    assert response.status_code == 403


def test_bad_input_gets_a_clear_error_and_no_500(client):
    response = client.post("/login/", {"step": "identify", "email": "not an address"})
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    response = client.post("/login/", {"step": "identify", "email": "x" * 5000 + "@example.com"})
    assert response.status_code == 200


def _median_login_seconds(client, address, password, rounds):
    timings = []
    for _ in range(rounds):
        client.get("/login/?restart=1")
        client.post("/login/", {"step": "identify", "email": address})
        start = time.perf_counter()
        client.post("/login/", {"step": "verify", "password": password})
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def test_an_unknown_address_costs_the_same_time_as_a_wrong_password(client, make_user):
    make_user("staff@example.com")
    _median_login_seconds(client, "staff@example.com", "warm up the hasher", 2)
    known, unknown = [], []
    for _ in range(4):  # interleaved, so a slow moment of the machine hits both alike
        known.append(_median_login_seconds(client, "staff@example.com", "wrong password", 5))
        unknown.append(_median_login_seconds(client, "nobody@example.com", "wrong password", 5))
    known, unknown = statistics.median(known), statistics.median(unknown)
    assert abs(known - unknown) / known < 0.25, (known, unknown)
