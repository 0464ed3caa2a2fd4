"""Two-step authentication: enrolment, codes, replays, backup codes, the expiring half-login."""

import re
from base64 import b32decode
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import twostep

from .helpers import GENERIC_FAILURE, last_attempt, log_in

pytestmark = pytest.mark.django_db


def code_from_secret(secret, offset=0):
    """The 6-digit code an authenticator app shows for this secret, now (+ offset steps)."""
    key = b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    return f"{totp(key, 30, 0, 6, offset):06d}"


def code_for(device, offset=0):
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, offset):06d}"


@pytest.fixture
def two_step_profile(make_profile):
    return make_profile("Strict", domains="example.com", require_two_step=True)


@pytest.fixture
def enrolled(make_user, two_step_profile):
    """A staff user with an authenticator app and backup codes: (user, device, codes)."""
    user = make_user("staff@example.com")
    device = twostep.start_enrolment(user)
    with time_machine.travel(timezone.now() - timedelta(minutes=5)):
        assert twostep.confirm_enrolment(device, code_for(device))
    return user, TOTPDevice.objects.get(pk=device.pk), twostep.new_backup_codes(user)


def password_step(client, address="staff@example.com", password="correct horse battery"):
    client.post("/login/", {"step": "identify", "email": address})
    return client.post("/login/", {"step": "verify", "password": password}, follow=True)


def submit_code(client, code, step="two_step"):
    return client.post("/login/", {"step": step, "code": code}, follow=True)


def test_a_profile_without_two_step_does_not_ask(client, make_user):
    make_user("staff@example.com")
    assert "Welcome" in password_step(client).content.decode()
    assert not TOTPDevice.objects.exists()


def test_enrolment_right_after_the_password_then_ten_backup_codes_shown_once(
    client, make_user, two_step_profile
):
    make_user("staff@example.com", name="Sam Staff")
    page = password_step(client).content.decode()
    assert "Set up two-step authentication" in page and "<svg" in page
    assert "Verification code" in page and ">Verify<" in page
    secret = re.search(r"data-secret>([A-Z2-7 ]+)<", page).group(1)
    assert client.get("/").status_code == 302  # nobody is logged in yet

    page = submit_code(client, code_from_secret(secret)).content.decode()
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", page)
    assert len(codes) == 10 and "shown only now" in page
    assert "_auth_user_id" not in client.session

    page = client.post("/login/", {"step": "backup_codes"}, follow=True).content.decode()
    assert "Welcome, Sam Staff" in page
    assert TOTPDevice.objects.get().confirmed
    assert client.session.get("otp_device_id")  # django-otp knows the session passed two-step
    assert "shown only now" not in client.get("/security/").content.decode()


def test_a_wrong_code_during_enrolment_asks_again(client, make_user, two_step_profile):
    make_user("staff@example.com")
    password_step(client)
    page = submit_code(client, "000000").content.decode()
    assert "That code is not right" in page and "Set up two-step authentication" in page
    assert not TOTPDevice.objects.filter(confirmed=True).exists()


def test_login_with_a_code_from_the_app(client, enrolled):
    _user, device, _codes = enrolled
    page = password_step(client).content.decode()
    assert "Two-step authentication" in page and "Verification code" in page
    assert "Welcome" in submit_code(client, code_for(device)).content.decode()
    assert last_attempt().outcome == "success"


def test_a_code_one_step_early_or_late_is_accepted_but_not_two(client, enrolled):
    _user, device, _codes = enrolled
    with time_machine.travel(timezone.now(), tick=False):  # no 30-second boundary in between
        password_step(client)
        assert "Welcome" in submit_code(client, code_for(device, offset=-1)).content.decode()
        other = Client()
        password_step(other)
        assert GENERIC_FAILURE in submit_code(other, code_for(device, offset=2)).content.decode()


def test_a_code_is_accepted_once(enrolled):
    _user, device, _codes = enrolled
    with time_machine.travel(timezone.now(), tick=False):
        code = code_for(device)
        first, second = Client(), Client()
        password_step(first)
        assert "Welcome" in submit_code(first, code).content.decode()
        password_step(second)
        page = submit_code(second, code).content.decode()
    assert GENERIC_FAILURE in page
    attempt = last_attempt()
    assert attempt.reason == "two_step_failed" and attempt.reference in page
    assert "_auth_user_id" not in second.session
    assert 'name="password"' in page  # back to the password: one password, one try at a code


def test_a_backup_code_works_once(enrolled):
    _user, _device, codes = enrolled
    first, second = Client(), Client()
    password_step(first)
    assert "Welcome" in submit_code(first, codes[0].upper()).content.decode()
    password_step(second)
    assert GENERIC_FAILURE in submit_code(second, codes[0]).content.decode()
    assert StaticToken.objects.count() == 9


def test_codes_kept_as_typed_before_are_hashed_by_the_migration_and_still_work(enrolled):
    import importlib

    from django.apps import apps

    user, _device, _codes = enrolled
    StaticToken.objects.all().delete()
    StaticToken.objects.create(device=StaticDevice.objects.get(user=user), token="ab2cd3ef")  # as before
    importlib.import_module("accounts.migrations.0005_hash_backup_codes").hash_backup_codes(apps, None)
    assert StaticToken.objects.get().token == twostep.stored_backup_code("ab2cd3ef")
    client = Client()
    password_step(client)
    assert "Welcome" in submit_code(client, "AB2C-D3EF").content.decode()


def test_the_database_does_not_hold_the_backup_codes(enrolled):
    _user, _device, codes = enrolled
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10 and not stored & set(codes)
    assert not any(code in token or token in code for code in codes for token in stored)


def test_the_half_finished_login_expires_after_five_minutes(client, enrolled):
    _user, device, _codes = enrolled
    password_step(client)
    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=5)):
        page = submit_code(client, code_for(device)).content.decode()
        assert "_auth_user_id" not in client.session
        assert "Email address" in page


def test_no_page_of_the_portal_is_reachable_between_the_factors(client, enrolled):
    password_step(client)
    for url in ("/", "/messages/new/", "/messages/sent/", "/security/", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_guessing_codes_runs_into_the_lockout(enrolled):
    for _ in range(10):
        client = Client()
        password_step(client)
        submit_code(client, "123456")
    client = Client()
    page = password_step(client).content.decode()
    assert GENERIC_FAILURE in page and last_attempt().reason == "locked_out"


def test_each_change_on_the_security_page_has_its_own_address(client, enrolled):
    """New backup codes and a new app each at their own address, after the password; the page's
    buttons lead there; a GET changes nothing."""
    _user, device, old_codes = enrolled
    password_step(client)
    submit_code(client, code_for(device))
    page = client.get("/security/").content.decode()
    assert 'formaction="/security/backup-codes/"' in page and 'formaction="/security/app/"' in page
    assert client.get("/security/backup-codes/").status_code == 405
    page = client.post("/security/backup-codes/", {"password": "wrong"}).content.decode()
    assert "That password is not right." in page and "<code>" not in page
    page = client.post("/security/backup-codes/", {"password": "correct horse battery"}).content.decode()
    assert len(re.findall(r"<li><code>([a-z0-9]+)</code></li>", page)) == 10
    page = client.post("/security/app/", {"password": "correct horse battery"}).content.decode()
    assert 'action="/security/app/confirm/"' in page
    new_device = TOTPDevice.objects.get(user=device.user, confirmed=False)
    page = client.post("/security/app/confirm/", {"code": "000000"}).content.decode()
    assert "That code is not right." in page
    client.post("/security/app/confirm/", {"code": code_for(new_device)}, follow=True)
    assert list(TOTPDevice.objects.filter(user=device.user).values_list("pk", "confirmed")) == [
        (new_device.pk, True)
    ]


def test_the_security_page_regenerates_backup_codes_after_the_password(client, enrolled):
    _user, device, old_codes = enrolled
    password_step(client)
    submit_code(client, code_for(device))
    page = client.get("/security/").content.decode()
    assert "Two-step authentication is set up" in page and "10 unused backup codes" in page

    page = client.post("/security/backup-codes/", {"password": "wrong"}).content.decode()
    assert "That password is not right." in page
    page = client.post("/security/backup-codes/", {"password": "correct horse battery"}).content.decode()
    new_codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", page)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert stored == {twostep.stored_backup_code(code) for code in new_codes}  # the old ones are gone


def test_the_security_page_replaces_the_app_after_the_password(client, enrolled):
    _user, old_device, _codes = enrolled
    password_step(client)
    submit_code(client, code_for(old_device))
    page = client.post("/security/app/", {"password": "correct horse battery"}).content.decode()
    secret = re.search(r"data-secret>([A-Z2-7 ]+)<", page).group(1)
    response = client.post("/security/app/confirm/", {"code": code_from_secret(secret)}, follow=True)
    assert "Your new authenticator app is set up" in response.content.decode()
    device = TOTPDevice.objects.get()
    assert device.pk != old_device.pk and device.confirmed


def test_administrators_see_who_is_enrolled_and_reset_them(client, enrolled, make_user):
    user, _device, _codes = enrolled
    make_user("admin@corp.example", is_staff=True, is_superuser=True)
    log_in(client, "admin@corp.example", "correct horse battery")
    listing = client.get("/admin/accounts/user/").content.decode()
    assert "two-step set up" in listing.lower()
    client.post(
        "/admin/accounts/user/", {"action": "reset_two_step", "_selected_action": [user.pk], "confirm": "yes"}
    )
    assert not twostep.is_enrolled(user) and not twostep.backup_codes_left(user)
