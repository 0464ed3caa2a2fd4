"""Network passwords against a real slapd: binds, refusals, injection, outages, StartTLS."""

import io
import time

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User

from .directory import PORTAL_GROUP
from .helpers import GENERIC_FAILURE, last_attempt, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_directory_user_logs_in_with_the_network_password(client, directory, corp_profile):
    response = log_in(client, "Alice@Corp.example", "alice network pass")
    assert "Welcome, Alice Directory" in response.content.decode()
    user = User.objects.get(email="alice@corp.example")
    assert user.kind == "internal" and not user.has_usable_password()  # the portal keeps no copy
    assert user.has_perm("accounts.access_portal")
    attempt = last_attempt()
    assert (attempt.outcome, attempt.method) == ("success", "network")


def test_a_later_login_updates_the_user_from_the_directory(client, directory, corp_profile, make_user):
    make_user("alice@corp.example", None, name="Old Name", portal=False)
    log_in(client, "alice@corp.example", "alice network pass")
    assert User.objects.get(email="alice@corp.example").name == "Alice Directory"


@pytest.mark.parametrize(
    ("address", "password", "reason"),
    [
        ("alice@corp.example", "wrong password", "bad_password"),
        ("nobody@corp.example", "alice network pass", "directory_user_not_found"),
        ("bob@corp.example", "bob network pass", "no_permission"),
    ],
)
def test_refusals_show_the_generic_message_and_record_the_reason(
    client, directory, corp_profile, address, password, reason
):
    client.post("/login/", {"step": "identify", "email": address})
    response = client.post("/login/", {"step": "verify", "password": password}, follow=True)
    page = response.content.decode()
    assert GENERIC_FAILURE in page
    assert last_attempt().reason == reason
    assert "_auth_user_id" not in client.session


def test_an_empty_password_is_refused_before_any_bind(directory, corp_profile):
    from accounts.methods.network import verify

    directory.freeze()  # any bind would now hang until the timeout
    start = time.monotonic()
    verdict = verify("alice@corp.example", None, "")
    assert time.monotonic() - start < 0.5
    assert (verdict.reason, verdict.detail) == ("bad_password", "empty password refused before any bind")


def test_filter_injection_in_the_address_finds_nobody(directory, corp_profile):
    from accounts.methods.network import verify

    for crafted in ("*", "*)(mail=*", "alice@corp.example)(|(mail=*", "\\2a"):
        verdict = verify(crafted, None, "alice network pass")
        assert verdict.reason == "directory_user_not_found", crafted
    assert not User.objects.exists()


def test_leaving_the_portal_group_removes_the_permission(client, directory, corp_profile, settings):
    log_in(Client(), "alice@corp.example", "alice network pass")
    settings.LDAP_PORTAL_GROUP = "cn=nobody,ou=groups,dc=corp,dc=example"
    page = log_in(client, "alice@corp.example", "alice network pass").content.decode()
    assert GENERIC_FAILURE in page and last_attempt().reason == "no_permission"
    assert PORTAL_GROUP  # the group of the seed data


@pytest.mark.parametrize("outage", ["stopped", "hung"])
def test_a_directory_outage_answers_within_the_timeout_and_cloud_users_still_log_in(
    client, directory, corp_profile, make_user, outage, settings
):
    make_user("staff@example.com", "correct horse battery")  # a cloud-password user
    if outage == "stopped":
        directory.stop()
    else:
        directory.freeze()
    client.post("/login/", {"step": "identify", "email": "alice@corp.example"})
    start = time.monotonic()
    page = client.post("/login/", {"step": "verify", "password": "alice network pass"}).content.decode()
    elapsed = time.monotonic() - start
    assert elapsed < settings.LDAP_TIMEOUT + 1
    assert "temporarily unavailable" in page and GENERIC_FAILURE not in page
    attempt = last_attempt()
    assert attempt.reason == "directory_unavailable" and attempt.reference in page
    assert "Welcome" in log_in(Client(), "staff@example.com", "correct horse battery").content.decode()
    directory.thaw()


def test_network_then_cloud_falls_back_to_the_cloud_password(client, directory, make_profile, make_user):
    profile = make_profile("Both", domains="corp.example", methods="network,cloud")
    make_user("dave@corp.example", "dave cloud password", auth_profile=profile)
    assert "Welcome" in log_in(client, "dave@corp.example", "dave cloud password").content.decode()
    assert last_attempt().method == "cloud"
    assert "Welcome" in log_in(Client(), "carol@corp.example", "carol network pass").content.decode()
    assert last_attempt().method == "network"


def test_starttls_with_the_ca_file(client, directory, corp_profile, settings):
    settings.LDAP_START_TLS = True
    settings.LDAP_CA_FILE = directory.ca_file
    assert "Welcome" in log_in(client, "alice@corp.example", "alice network pass").content.decode()


def test_starttls_refuses_a_server_it_cannot_verify(client, directory, corp_profile, settings, tmp_path):
    from .certificates import self_signed

    unrelated, _key = self_signed(tmp_path, "unrelated")
    settings.LDAP_START_TLS = True
    settings.LDAP_CA_FILE = str(unrelated)
    page = log_in(client, "alice@corp.example", "alice network pass").content.decode()
    assert "temporarily unavailable" in page
    assert last_attempt().reason == "directory_unavailable"


def test_an_address_not_in_the_directory_costs_it_the_same_work_as_a_wrong_password(directory, corp_profile):
    from django.test import Client

    def work(address):
        before = directory.completed("Bind"), directory.completed("Search")
        log_in(Client(), address, "a wrong password")
        after = directory.completed("Bind"), directory.completed("Search")
        return after[0] - before[0], after[1] - before[1]

    wrong_password = work("alice@corp.example")
    assert last_attempt().reason == "bad_password"
    not_there = work("nobody@corp.example")
    assert last_attempt().reason == "directory_user_not_found"
    assert not_there == wrong_password  # so the time does not tell who is in the directory


def test_check_directory_reports_reachability_timing_and_the_entry(directory):
    out = io.StringIO()
    call_command("check_directory", "alice@corp.example", stdout=out)
    text = out.getvalue()
    assert "reachable: yes" in text and "service bind: yes" in text and "ms" in text
    assert "uid=alice,ou=people,dc=corp,dc=example" in text and "Alice Directory" in text
    directory.stop()
    out = io.StringIO()
    call_command("check_directory", stdout=out)
    assert "reachable: no" in out.getvalue()


def test_the_admin_page_checks_the_directory(client, directory, make_user):
    make_user("admin@example.com", "correct horse battery", is_staff=True, is_superuser=True)
    log_in(client, "admin@example.com", "correct horse battery")
    listing = client.get("/admin/accounts/authprofile/").content.decode()
    assert "Check the company directory" in listing
    page = client.get("/admin/accounts/authprofile/directory/", {"email": "alice@corp.example", "check": "1"})
    text = page.content.decode()
    assert "Service bind works" in text and "uid=alice,ou=people,dc=corp,dc=example" in text
    assert "Alice Directory" in text


def test_a_directory_user_is_told_where_to_change_the_network_password(client, directory, corp_profile):
    log_in(client, "alice@corp.example", "alice network pass")
    page = client.get("/password/change/").content.decode()
    assert "The portal does not keep it and cannot change it" in page
    assert 'name="new_password1"' not in page
