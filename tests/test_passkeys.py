"""Passkeys without a browser: the directory still decides for network-password staff, the Security page's
rules, the administrator's removal, and the doctor's words."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.login import LoginFailed
from accounts.methods import passkey
from accounts.models import LoginAttempt, Passkey

from .helpers import log_in

pytestmark = pytest.mark.django_db


def a_passkey(user, name="Laptop"):
    return Passkey.objects.create(
        user=user, name=name, credential_id=f"id-{user.pk}-{name}", public_key=b"cose"
    )


def test_a_person_removed_from_the_directory_cannot_come_in_with_a_passkey(
    directory, make_user, make_profile
):
    make_profile("Corp", domains="corp.example", methods="network,passkey")
    alice = make_user("alice@corp.example", None)
    gone = make_user("gone@corp.example", None)
    passkey._still_in_directory(alice)  # alice is in the directory: no refusal
    with pytest.raises(LoginFailed) as refusal:
        passkey._still_in_directory(gone)
    assert refusal.value.reason == LoginAttempt.Reason.DIRECTORY_USER_NOT_FOUND
    directory.stop()
    with pytest.raises(LoginFailed) as refusal:
        passkey._still_in_directory(alice)
    assert (refusal.value.reason, refusal.value.outage) == ("directory_unavailable", True)


def test_after_ten_minutes_the_security_page_wants_the_password_again(make_user):
    user = make_user("staff@example.com")
    key = a_passkey(user)
    client = Client()
    log_in(client, "staff@example.com", "correct horse battery")
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        page = client.post("/security/passkeys/remove/", {"passkey": key.pk}, follow=True)
        assert "That password is not right." in page.content.decode()
        assert Passkey.objects.filter(pk=key.pk).exists()
        assert client.post("/security/passkeys/", {"action": "options"}).status_code == 403
        client.post("/security/passkeys/remove/", {"passkey": key.pk, "password": "correct horse battery"})
    assert not Passkey.objects.filter(pk=key.pk).exists()


def test_removing_a_passkey_and_declining_the_offer_have_their_own_addresses(make_user):
    user = make_user("staff@example.com")
    key, other = a_passkey(user), a_passkey(user, "Phone")
    client = Client()
    log_in(client, "staff@example.com", "correct horse battery")
    page = client.get("/security/").content.decode()
    assert 'action="/security/passkeys/remove/"' in page
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        page = client.post("/security/passkeys/remove/", {"passkey": key.pk}, follow=True).content.decode()
        assert "That password is not right." in page and Passkey.objects.filter(pk=key.pk).exists()
        page = client.post(
            "/security/passkeys/remove/",
            {"passkey": key.pk, "password": "correct horse battery"},
            follow=True,
        ).content.decode()
        assert "The passkey is removed." in page
    assert list(Passkey.objects.values_list("pk", flat=True)) == [other.pk]
    assert client.get("/security/passkeys/remove/").status_code == 405
    assert client.post("/security/passkeys/not-now/")["Location"] == "/"


def test_nobody_removes_someone_elses_passkey(make_user):
    make_user("staff@example.com")
    theirs = a_passkey(make_user("other@example.com"))
    client = Client()
    log_in(client, "staff@example.com", "correct horse battery")
    client.post("/security/passkeys/remove/", {"passkey": theirs.pk})
    assert client.post("/security/passkeys/remove/", {"passkey": "1; DROP"}).status_code == 302
    assert Passkey.objects.filter(pk=theirs.pk).exists()


def test_a_credential_that_does_not_verify_adds_nothing(make_user):
    make_user("staff@example.com")
    client = Client()
    log_in(client, "staff@example.com", "correct horse battery")
    client.post("/security/passkeys/", {"action": "options"})
    page = client.post(
        "/security/passkeys/", {"action": "add", "name": "Fake", "credential": '{"id": "x"}'}, follow=True
    )
    assert "No passkey was added." in page.content.decode()
    assert not Passkey.objects.exists()


def test_administrators_see_how_many_passkeys_and_remove_them(make_user):
    admin = make_user("admin@example.com", is_staff=True, is_superuser=True)
    person = make_user("person@example.com")
    a_passkey(person, "Phone")
    a_passkey(person, "Laptop")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/accounts/user/").content.decode()
    assert '<td class="field-passkey_count">2</td>' in listing
    data = {"action": "remove_passkeys", "_selected_action": [person.pk], "confirm": "yes"}
    client.post("/admin/accounts/user/", data)
    assert not person.passkeys.exists()


def test_the_doctor_names_the_passkeys(make_user, make_profile):
    make_profile("Passkeys", domains="example.com", methods="cloud,passkey")
    admin = make_user("admin@example.com", is_staff=True, is_superuser=True)
    person = make_user("person@example.com")
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/diagnose/", {"email": "person@example.com"}).content.decode()
    assert "None yet: the person adds one on their Security page after signing in." in page
    a_passkey(person, "Phone")
    page = client.get("/admin/diagnose/", {"email": "person@example.com"}).content.decode()
    assert "1: Phone." in page and "Can log in with: Cloud password, Passkey." in page


def test_the_security_page_is_titled_security(make_user):
    client = Client()
    client.force_login(make_user("staff@example.com"))
    page = client.get("/security/").content.decode()
    assert "<title>Security · Secure portal</title>" in page
    assert page.count('id="passkeys-title"') == 1
