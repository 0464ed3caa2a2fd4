"""The support desk: the browser matrix, whom to contact, and the admin's login doctor with its fixes."""

import html
import logging
import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts import twostep
from accounts.models import AuthProfile, LoginAttempt, User

from .helpers import GENERIC_FAILURE, account_events, last_attempt, log_in
from .test_passwords import temporary_password_in
from .test_two_step import code_for, password_step

pytestmark = pytest.mark.django_db(transaction=True)

FIREFOX_OLD = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:91.0) Gecko/20100101 Firefox/91.0"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
IE11 = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
SAMSUNG = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36"
)


def text_of(response):
    """The page as a person reads it: tags removed, entities decoded, spaces collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


# The person who cannot log in


@pytest.mark.parametrize(
    ("user_agent", "described", "verdict"),
    [
        (FIREFOX, "Firefox 128 on Windows 10", "Your browser is supported."),
        (FIREFOX_OLD, "Firefox 91 on Windows 10", "from version 115. Please update your browser"),
        (IE11, "Internet Explorer 11 on Windows 10", "no longer supported by its maker"),
        (IPHONE, "Mobile Safari 17 on iOS 17", "Your browser is supported."),
        (SAMSUNG, "Samsung Internet 25 on Android 14", "Your browser is supported."),
        ("curl/8.5.0", "curl 8", "This browser is not on our list. It may work"),
    ],
)
def test_the_browsers_page_names_the_visitors_browser_and_whether_it_is_supported(
    user_agent, described, verdict
):
    page = text_of(Client(HTTP_USER_AGENT=user_agent).get("/browsers/"))
    assert f"Your browser {described}" in page
    assert verdict in page
    for name in ("Google Chrome", "Microsoft Edge", "Mozilla Firefox", "Safari on macOS"):
        assert name in page
    assert "Safari on iPhone and iPad" in page and "Samsung Internet" in page and "Chrome on Android" in page


def test_the_matrix_setting_drives_the_page_and_the_login_notice(client, settings):
    settings.SUPPORTED_BROWSERS = [{"name": "Mozilla Firefox", "minimum": 130, "families": ["Firefox"]}]
    visitor = Client(HTTP_USER_AGENT=FIREFOX)
    assert "Mozilla Firefox (yours) 130" in text_of(visitor.get("/browsers/"))
    assert "Google Chrome" not in text_of(visitor.get("/browsers/"))
    notice = "Your web browser is not supported by this portal."
    assert notice in text_of(visitor.get("/login/"))
    settings.SUPPORTED_BROWSERS = [{"name": "Mozilla Firefox", "minimum": 128, "families": ["Firefox"]}]
    assert notice not in text_of(visitor.get("/login/"))
    assert notice in text_of(Client(HTTP_USER_AGENT=IE11).get("/login/"))


def test_every_login_page_links_to_the_browsers_and_the_failure_box_too(client, make_user):
    for path in ("/login/", "/password/forgot/"):
        assert 'href="/browsers/"' in client.get(path).content.decode()
    make_user("staff@example.com")
    page = log_in(client, "staff@example.com", "not the password").content.decode()
    failure = page[page.index('class="failure"') :]
    assert "your browser is supported</a>" in failure[: failure.index("</section>")]


def test_staff_of_a_named_domain_are_told_to_contact_their_administrator_with_the_contact(
    client, make_user, make_profile, settings
):
    settings.SUPPORT_CONTACT = "IT service desk, help@example.com, +44 20 7946 0000"
    make_profile("Corp", domains="corp.example", support_contact="Corp helpdesk, 0800 123")
    make_user("staff@example.com")
    page = text_of(log_in(client, "staff@corp.example", "wrong password"))
    assert "Contact your administrator (Corp helpdesk, 0800 123) and give them this information:" in page
    # An address of no named domain (known or not): both rules, with the server's contact.
    for address in ("staff@example.com", "nobody@elsewhere.example"):
        page = text_of(log_in(Client(), address, "wrong password"))
        assert (
            "If you work for the organisation, contact your administrator (IT service desk, "
            "help@example.com, +44 20 7946 0000). If you received a secure message, contact its sender."
        ) in page


def test_the_contact_does_not_tell_whether_an_account_exists(client, make_user, make_profile):
    make_profile("Corp", domains="corp.example", support_contact="Corp helpdesk")
    make_user("someone@corp.example", auth_profile=make_profile("Personal", support_contact="Private line"))

    def contact_sentence(address):
        page = text_of(log_in(Client(), address, "wrong password"))
        return page[page.index("Contact") : page.index("give them")]

    assert contact_sentence("someone@corp.example") == contact_sentence("no-one@corp.example")


def test_logging_out_by_address_shows_a_button_and_an_anonymous_visitor_a_way_in(client, make_user):
    anonymous = client.get("/logout/")
    assert anonymous.status_code == 200 and "You are not logged in." in text_of(anonymous)
    make_user("staff@example.com")
    log_in(client, "staff@example.com", "correct horse battery")
    assert "Log out of the portal on this device?" in text_of(client.get("/logout/"))
    assert client.get("/").status_code == 200


def test_the_log_line_of_a_failure_explains_the_reason(client, make_user, caplog):
    make_user("staff@example.com")
    with caplog.at_level(logging.INFO, logger="portal.login"):
        log_in(client, "staff@example.com", "not the password")
    line = next(r.getMessage() for r in caplog.records if "event=login_failed" in r.getMessage())
    assert "reason=bad_password" in line
    assert 'explanation="The password typed is not the account\'s password."' in line
    assert "not the password" not in line


# The administrator


@pytest.fixture
def admin_client(make_user):
    administrator = Client()
    make_user("admin@example.com", is_staff=True, is_superuser=True, name="Ada Admin")
    log_in(administrator, "admin@example.com", "correct horse battery")
    return administrator


def doctor(admin_client, address):
    response = admin_client.get("/admin/diagnose/", {"email": address})
    assert response.status_code == 200
    return response


def verdict(admin_client, address):
    """The doctor's verdict box, as text."""
    page = doctor(admin_client, address).content.decode()
    box = re.search(r'id="verdict">(.*?)</div>', page, re.S).group(1)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", box)).split())


def fix(admin_client, address, name):
    response = admin_client.post("/admin/diagnose/fix/", {"email": address, "fix": name})
    assert response.status_code == 302, response.status_code
    return response


def test_from_a_reference_code_to_the_doctor_in_two_clicks(admin_client, make_user):
    make_user("staff@example.com")
    log_in(Client(), "staff@example.com", "not the password")
    reference = last_attempt().reference
    listing = admin_client.get("/admin/accounts/loginattempt/", {"q": reference}).content.decode()
    assert "The password typed is not the account&#x27;s password." in listing
    link = re.search(r'href="(/admin/diagnose/\?email=[^"]+)"', listing).group(1)
    page = admin_client.get(html.unescape(link))
    assert "Can log in with: Cloud password." in text_of(page)
    assert "The password typed is not the account's password." in text_of(page)
    # Also linked from the admin index, the attempt's page and the user's page.
    assert 'href="/admin/diagnose/"' in admin_client.get("/admin/").content.decode()
    attempt = LoginAttempt.objects.get(reference=reference)
    assert (
        "/admin/diagnose/?email=staff%40example.com"
        in admin_client.get(f"/admin/accounts/loginattempt/{attempt.pk}/change/").content.decode()
    )
    user = User.objects.get(email="staff@example.com")
    assert (
        "/admin/diagnose/?email=staff%40example.com"
        in admin_client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    )


def test_the_doctor_shows_what_decides_the_login(admin_client, make_user, make_profile):
    profile = make_profile("Example", domains="example.com", require_two_step=True)
    user = make_user("staff@example.com", name="Sam Staff")
    user.aliases.create(email="sam@example.com")
    page = text_of(doctor(admin_client, "sam@example.com"))
    assert "sam@example.com is an alias of staff@example.com (Staff (internal), Sam Staff)" in page
    assert "Example, because it is the profile of the domain example.com. Methods: Cloud password." in page
    assert "Cloud password Set." in page
    assert "Portal permission Yes, given directly." in page
    assert "Two-step Required; not set up yet" in page
    assert "Lockout Not locked." in page
    assert "Can log in with: Cloud password." in page
    profile.delete()
    AuthProfile.objects.filter(is_default=True).delete()
    make_profile("Everyone", is_default=True)
    page = text_of(doctor(admin_client, "staff@example.com"))
    assert "the default profile (no profile names this domain)" in page


def test_wrong_password_the_doctor_names_it_and_a_temporary_password_lets_the_person_in(
    admin_client, make_user, mailbox
):
    from messaging.notify import deliver_due

    make_user("staff@example.com")
    person = Client()
    log_in(person, "staff@example.com", "I forgot it")
    assert "The password typed is not the account's password." in verdict(admin_client, "staff@example.com")
    fix(admin_client, "staff@example.com", "send_temporary_password")
    deliver_due()
    temporary = temporary_password_in(mailbox.wait_for(1)[0])
    response = log_in(person, "staff@example.com", temporary)
    assert response.request["PATH_INFO"] == "/password/change/", (
        last_attempt().reason,
        last_attempt().detail,
    )


def test_unknown_address_the_doctor_says_there_is_no_account(admin_client):
    log_in(Client(), "nobody@example.com", "a guess")
    assert "Cannot log in because: No account has this address" in verdict(admin_client, "nobody@example.com")


def test_no_cloud_password_a_temporary_password_lets_the_person_in(admin_client, make_user, mailbox):
    from messaging.notify import deliver_due

    make_user("new@example.com", None)
    log_in(Client(), "new@example.com", "anything")
    assert "Cannot log in because: The account has no cloud password yet." in verdict(
        admin_client, "new@example.com"
    )
    fix(admin_client, "new@example.com", "send_temporary_password")
    deliver_due()
    temporary = temporary_password_in(mailbox.wait_for(1)[0])
    assert log_in(Client(), "new@example.com", temporary).request["PATH_INFO"] == "/password/change/"


def test_no_permission_granting_it_lets_the_person_in(admin_client, make_user):
    make_user("staff@example.com", portal=False)
    person = Client()
    assert GENERIC_FAILURE in log_in(person, "staff@example.com", "correct horse battery").content.decode()
    assert "Cannot log in because: The account lacks the permission" in verdict(
        admin_client, "staff@example.com"
    )
    fix(admin_client, "staff@example.com", "grant_permission")
    assert (
        "Welcome, Sam Staff" in log_in(person, "staff@example.com", "correct horse battery").content.decode()
    )
    entry = account_events().get(subject__email="staff@example.com")
    assert (entry.actor_name, entry.event, entry.details, entry.ip) == (
        "admin@example.com",
        "permission.granted",
        {"permission": "accounts.access_portal"},
        "127.0.0.1",
    )
    page = text_of(doctor(admin_client, "staff@example.com"))
    assert "admin@example.com — Permission granted: accounts.access_portal (from 127.0.0.1)" in page


def test_external_recipient_on_the_staff_page_the_doctor_says_use_the_link(admin_client, make_user):
    make_user("client@outside.example", kind="external", portal=False)
    log_in(Client(), "client@outside.example", "correct horse battery")
    box = verdict(admin_client, "client@outside.example")
    assert "through the link of a message sent to them" in box
    assert "An external recipient tried to log in outside the link of a message sent to them." in box


def test_directory_down_the_doctor_says_it_cannot_be_reached(admin_client, directory, corp_profile):
    log_in(Client(), "alice@corp.example", "alice network pass")
    assert "Can log in with: Network password." in verdict(admin_client, "alice@corp.example")
    page = text_of(doctor(admin_client, "alice@corp.example"))
    assert "entry uid=alice,ou=people" in page and "A member of the portal group." in page
    directory.stop()
    log_in(Client(), "alice@corp.example", "alice network pass")
    assert last_attempt().reason == "directory_unavailable"
    assert "Cannot log in because: The company directory could not be reached" in verdict(
        admin_client, "alice@corp.example"
    )


def test_idp_problem_the_doctor_names_single_sign_on(admin_client, identity_provider, make_user, settings):
    make_user("sso@sso.example")
    page = text_of(doctor(admin_client, "sso@sso.example"))
    assert "Its signing certificate expires on" in page
    settings.SAML_IDP_METADATA = "/nonexistent/idp-metadata.xml"
    assert "Cannot log in because: Single sign-on failed" in verdict(admin_client, "sso@sso.example")


def test_expired_temporary_password_a_new_one_lets_the_person_in(admin_client, make_user, mailbox):
    from accounts import passwords
    from messaging.notify import deliver_due

    user = make_user("staff@example.com", None)
    old = passwords.issue_temporary_password(user)
    User.objects.filter(pk=user.pk).update(
        temporary_password_expires_at=timezone.now() - timedelta(minutes=1)
    )
    log_in(Client(), "staff@example.com", old)
    assert last_attempt().reason == "temporary_password_expired"
    assert "Cannot log in because: The temporary password had expired" in verdict(
        admin_client, "staff@example.com"
    )
    fix(admin_client, "staff@example.com", "send_temporary_password")
    deliver_due()
    temporary = temporary_password_in(mailbox.wait_for(1)[0])
    assert log_in(Client(), "staff@example.com", temporary).request["PATH_INFO"] == "/password/change/"


def test_locked_out_lifting_the_lockout_lets_the_person_in(admin_client, make_user, settings):
    settings.LOCKOUT_FAILURES_PER_ADDRESS = 3
    make_user("staff@example.com")
    person = Client(REMOTE_ADDR="192.0.2.7")
    for _ in range(3):
        log_in(person, "staff@example.com", "a wrong guess")
    log_in(person, "staff@example.com", "correct horse battery")
    assert last_attempt().reason == "locked_out"
    assert "Cannot log in because: Too many failed attempts" in verdict(admin_client, "staff@example.com")
    fix(admin_client, "staff@example.com", "lift_lockout")
    assert "Welcome" in log_in(person, "staff@example.com", "correct horse battery").content.decode()
    assert "Lockout Not locked." in text_of(doctor(admin_client, "staff@example.com"))


def test_wrong_two_step_code_resetting_two_step_lets_the_person_enrol_again(
    admin_client, make_user, make_profile
):
    make_profile("Strict", domains="example.com", require_two_step=True)
    user = make_user("staff@example.com")
    device = twostep.start_enrolment(user)
    with time_machine.travel(timezone.now() - timedelta(minutes=5)):
        assert twostep.confirm_enrolment(device, code_for(device))
    person = Client()
    password_step(person)
    person.post("/login/", {"step": "two_step", "code": "000000"}, follow=True)
    assert last_attempt().reason == "two_step_failed"
    assert "The two-step code was wrong or already used." in verdict(admin_client, "staff@example.com")
    fix(admin_client, "staff@example.com", "reset_two_step")
    page = password_step(person).content.decode()
    assert "Scan this QR code" in page or "authenticator app" in page  # enrolment, not a refusal
    from django_otp.plugins.otp_totp.models import TOTPDevice

    new = TOTPDevice.objects.get(user=user, confirmed=False)
    response = person.post("/login/", {"step": "two_step", "code": code_for(new)}, follow=True)
    response = person.post("/login/", {"step": "backup_codes"}, follow=True)
    assert "Welcome, Sam Staff" in response.content.decode()


def test_a_deactivated_account_reactivating_it_lets_the_person_in(admin_client, make_user):
    make_user("staff@example.com", is_active=False)
    log_in(Client(), "staff@example.com", "correct horse battery")
    assert "Cannot log in because: The account is deactivated." in verdict(admin_client, "staff@example.com")
    fix(admin_client, "staff@example.com", "reactivate")
    assert "Welcome" in log_in(Client(), "staff@example.com", "correct horse battery").content.decode()


def test_a_fix_without_the_permission_as_a_get_or_without_csrf_changes_nothing(admin_client, make_user):
    from django.contrib.auth.models import Permission

    target = make_user("staff@example.com", portal=False)
    helper = make_user("helpdesk@example.com", is_staff=True)
    helper.user_permissions.add(Permission.objects.get(codename="view_user"))
    desk = Client()
    log_in(desk, "helpdesk@example.com", "correct horse battery")
    page = desk.get("/admin/diagnose/", {"email": "staff@example.com"}).content.decode()
    assert "Cannot log in because" in page
    assert 'value="grant_permission"' not in page  # no button for a fix this helper may not make
    refused = desk.post("/admin/diagnose/fix/", {"email": "staff@example.com", "fix": "grant_permission"})
    assert refused.status_code == 403
    assert (
        admin_client.get(
            "/admin/diagnose/fix/", {"email": "staff@example.com", "fix": "grant_permission"}
        ).status_code
        == 405
    )
    strict = Client(enforce_csrf_checks=True)
    log_in(strict, "admin@example.com", "correct horse battery")
    no_token = strict.post("/admin/diagnose/fix/", {"email": "staff@example.com", "fix": "grant_permission"})
    assert no_token.status_code == 403
    target.refresh_from_db()
    assert not target.has_perm("accounts.access_portal")
    assert not account_events().exists()


def test_the_doctor_is_for_administrators_only(make_user):
    make_user("staff@example.com")
    person = Client()
    log_in(person, "staff@example.com", "correct horse battery")
    response = person.get("/admin/diagnose/", {"email": "staff@example.com"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    fixing = person.post("/admin/diagnose/fix/", {"email": "staff@example.com", "fix": "reactivate"})
    assert fixing.status_code == 302 and fixing["Location"].startswith("/admin/login/")
