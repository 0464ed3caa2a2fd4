"""The admin: users with aliases, profiles, and the read-only login audit log."""

import pytest

from accounts.models import LoginAttempt, User

from .helpers import last_attempt, log_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    make_user("admin@example.com", is_staff=True, is_superuser=True)
    log_in(client, "admin@example.com", "correct horse battery")
    return client


def test_an_administrator_finds_a_failed_attempt_by_its_reference_code(admin_client, make_user):
    from django.test import Client

    make_user("staff@example.com")
    visitor = Client(
        HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
    )
    log_in(visitor, "staff@example.com", "wrong password here")
    attempt = last_attempt()

    listing = admin_client.get(
        "/admin/accounts/loginattempt/", {"q": attempt.reference.replace("-", "").lower()}
    )
    page = listing.content.decode()
    assert attempt.reference in page and "staff@example.com" in page
    detail = admin_client.get(f"/admin/accounts/loginattempt/{attempt.pk}/change/").content.decode()
    assert "Wrong password" in detail
    assert "Firefox 128 on Windows" in detail


def test_the_audit_log_is_read_only_in_the_admin(admin_client):
    attempt = last_attempt()  # the administrator's own login
    assert admin_client.get("/admin/accounts/loginattempt/add/").status_code == 403
    response = admin_client.post(
        f"/admin/accounts/loginattempt/{attempt.pk}/change/", {"reason": "bad_password"}
    )
    assert response.status_code == 403
    assert (
        admin_client.post(f"/admin/accounts/loginattempt/{attempt.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert LoginAttempt.objects.get(pk=attempt.pk).reason == ""


def test_the_audit_log_filters_by_outcome_reason_method_and_date(admin_client):
    for query in (
        "outcome__exact=failure",
        "reason__exact=bad_password",
        "method__exact=cloud",
        "at__year=2026",
    ):
        assert admin_client.get(f"/admin/accounts/loginattempt/?{query}").status_code == 200


def test_an_administrator_adds_a_staff_user_with_an_alias_and_the_portal_permission(admin_client, client):
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Person@Example.com",
            "name": "New Person",
            "kind": "internal",
            "usable_password": "true",
            "password1": "a long new password 42",
            "password2": "a long new password 42",
            "aliases-TOTAL_FORMS": "0",
            "aliases-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    user = User.objects.get(email="new.person@example.com")
    change = admin_client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "aliases-TOTAL_FORMS" in change

    admin_client.post(
        "/admin/accounts/user/",
        {
            "action": "grant_portal_access",
            "_selected_action": [user.pk],
        },
    )
    assert User.objects.get(pk=user.pk).has_perm("accounts.access_portal")


def test_the_admin_lists_and_searches_users_and_profiles(admin_client, make_user, make_profile):
    make_user("kim@example.com", name="Kim Example")
    make_profile("Corp", domains="corp.example", methods="network,cloud")
    page = admin_client.get("/admin/accounts/user/", {"q": "kim"}).content.decode()
    assert "kim@example.com" in page
    page = admin_client.get("/admin/accounts/authprofile/").content.decode()
    assert "Corp" in page and "corp.example" in page


def test_a_profile_cannot_choose_a_sign_in_method_the_server_has_not_set_up(admin_client, settings):
    from accounts.models import AuthProfile

    settings.SAML_IDP_METADATA = ""
    form = {"name": "SSO", "domains": "sso.example", "methods": "saml", "temporary_password_hours": 24}
    form |= {"session_minutes": 480, "message_expiry_days": 30}
    page = admin_client.post("/admin/accounts/authprofile/add/", form).content.decode()
    assert "Not set up on this server: Single sign-on." in page
    assert not AuthProfile.objects.filter(name="SSO").exists()
    settings.SAML_IDP_METADATA = "/etc/portal/idp-metadata.xml"
    assert admin_client.post("/admin/accounts/authprofile/add/", form).status_code == 302
    assert AuthProfile.objects.get(name="SSO").methods == "saml"


@pytest.mark.django_db(transaction=True)
def test_an_administrator_sends_a_temporary_password_after_confirming(admin_client, make_user, mailbox):
    from accounts.models import PasswordHelpRequest

    from .conftest import body_text

    user = make_user("kim@example.com", None)
    confirm = admin_client.post(
        "/admin/accounts/user/", {"action": "send_temporary_password", "_selected_action": [user.pk]}
    )
    assert "Send a temporary password by email to these users?" in confirm.content.decode()
    assert not mailbox.messages
    from messaging.notify import deliver_due

    done = admin_client.post(
        "/admin/accounts/user/",
        {"action": "send_temporary_password", "_selected_action": [user.pk], "confirm": "yes"},
        follow=True,
    )
    assert "Send a temporary password: done for 1 account." in done.content.decode()
    assert deliver_due() == 1  # the notification worker sends it
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "kim@example.com" and "Temporary password:" in body_text(message)
    assert PasswordHelpRequest.objects.get().requested_by == "admin@example.com"


def test_an_administrator_sets_a_password_to_be_changed_at_next_login(admin_client, make_user, client):
    from django.test import Client

    user = make_user("kim@example.com", None)
    form = admin_client.post(
        "/admin/accounts/user/", {"action": "set_password_to_change", "_selected_action": [user.pk]}
    )
    assert "Password (to be changed at next login)" in form.content.decode()
    weak = admin_client.post(
        "/admin/accounts/user/",
        {
            "action": "set_password_to_change",
            "_selected_action": [user.pk],
            "confirm": "yes",
            "password": "short",
        },
    )
    assert "This password is too short" in weak.content.decode()
    admin_client.post(
        "/admin/accounts/user/",
        {
            "action": "set_password_to_change",
            "_selected_action": [user.pk],
            "confirm": "yes",
            "password": "set by the admin 42",
        },
    )
    response = log_in(Client(), "kim@example.com", "set by the admin 42")
    assert response.request["PATH_INFO"] == "/password/change/"


def test_administrators_see_message_metadata_but_content_only_with_the_permission(
    admin_client, hold_message, make_user
):
    from django.contrib.auth.models import Permission
    from django.test import Client

    from messaging.models import AccessEvent

    message = hold_message(["client@outside.example"], subject="Board minutes", text="Secret body text")
    page = admin_client.get(f"/admin/messaging/message/{message.pk}/change/").content.decode()
    assert "Board minutes" in page and "client@outside.example" in page
    assert "Secret body text" not in page

    helpdesk = make_user("helpdesk@example.com", is_staff=True)
    helpdesk.user_permissions.add(Permission.objects.get(codename="view_message"))
    desk = Client()
    log_in(desk, "helpdesk@example.com", "correct horse battery")
    assert desk.get(f"/admin/messaging/message/{message.pk}/change/").status_code == 200
    assert desk.get(f"/admin/messaging/message/{message.pk}/content/").status_code == 403

    content = admin_client.get(f"/admin/messaging/message/{message.pk}/content/").content.decode()
    assert "Secret body text" in content and "has been recorded" in content
    event = AccessEvent.objects.get(action="admin_view")
    assert event.user.email == "admin@example.com" and event.message == message


def test_administrators_resend_a_notification_and_revoke_after_confirming(admin_client, hold_message):
    from messaging.models import Message, Notification

    message = hold_message(["client@outside.example"])
    before = Notification.objects.filter(kind="new_message").count()
    confirm = admin_client.post(
        "/admin/messaging/message/", {"action": "resend_notifications", "_selected_action": [message.pk]}
    )
    assert "with a new link" in confirm.content.decode()
    admin_client.post(
        "/admin/messaging/message/",
        {"action": "resend_notifications", "_selected_action": [message.pk], "confirm": "yes"},
    )
    assert Notification.objects.filter(kind="new_message").count() == before + 1
    admin_client.post(
        "/admin/messaging/message/",
        {"action": "revoke_messages", "_selected_action": [message.pk], "confirm": "yes"},
    )
    assert Message.objects.get().revoked_at is not None


def test_recent_actions_on_the_admins_home_are_the_persons_own_audit_events(admin_client, make_user):
    """Django's "Recent actions" read its own log, which stays empty since every change is an action."""
    person = make_user("person@example.com")
    admin_client.post(
        "/admin/accounts/user/",
        {"action": "deactivate", "_selected_action": [person.pk], "confirm": "yes"},
    )
    page = admin_client.get("/admin/").content.decode()
    recent = page.split('id="recent-actions-module"')[1]
    assert "Account deactivated: person@example.com" in recent and "None available" not in recent


def test_the_admins_pages_keep_to_the_csp_no_inline_style(admin_client, hold_message):
    message = hold_message(["client@outside.example"])
    for path in ("/admin/", "/admin/diagnose/", f"/admin/messaging/message/{message.pk}/content/"):
        page = admin_client.get(path).content.decode()
        assert "<style" not in page and ' style="' not in page.split("<body")[1], path
        assert "/static/portal/admin" in page, path


def test_the_compose_page_loads_its_upload_script_once_and_not_in_its_title(admin_client):
    page = admin_client.get("/messages/new/").content.decode()
    assert (
        page.count("portal/uploads") == 1 and "<script" not in page.split("<title>")[1].split("</title>")[0]
    )
