"""No way around the actions layer: every admin page, action and command that changes an account writes
its audit event, and nothing outside the actions writes the tables that hold rights and fates."""

import io
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client

from accounts.admin import UserAdmin
from accounts.models import EmailAlias, Throttle, User, portal_permission
from portal.models import AuditEvent

from .helpers import log_in

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


@pytest.fixture
def admin_client(make_user):
    make_user("admin@example.com", is_staff=True, is_superuser=True)
    client = Client()
    log_in(client, "admin@example.com", PASSWORD)
    return client


def events_during(change):
    """The audit events `change()` wrote, less the logins (the administrator's own is not the change)."""
    before = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    change()
    return list(
        AuditEvent.objects.filter(pk__gt=before)
        .exclude(event__startswith="login.")
        .values_list("event", flat=True)
    )


EXPECTED = {
    "grant_portal_access": "permission.granted",
    "revoke_portal_access": "permission.removed",
    "send_temporary_password": "password.reset_sent",
    "set_password_to_change": "password.changed",
    "reset_two_step": "two_step.reset",
    "deactivate": "account.deactivated",
    "reactivate": "account.reactivated",
    "remove_passkeys": "passkey.removed",
    "forget_provider_identities": "identity.forgotten",
    "end_all_sessions": "session.ended",
    "delete_selected": "account.deleted",
}


def test_every_user_action_of_the_admin_is_listed_here():
    assert set(UserAdmin.actions) | {"delete_selected"} == set(EXPECTED)


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_each_user_action_of_the_admin_writes_one_audit_event(admin_client, make_user, action):
    person = make_user("person@example.com")
    data = {"action": action, "_selected_action": [person.pk], "confirm": "yes", "post": "yes"}
    data["password"] = "a password chosen for them 42"
    written = events_during(lambda: admin_client.post("/admin/accounts/user/", data, follow=True))
    assert written == [EXPECTED[action]]


def test_the_change_form_records_fields_groups_and_permissions(admin_client, make_user):
    person = make_user("person@example.com", name="Pat", portal=False)
    group = Group.objects.create(name="Readers")
    permission = Permission.objects.get(codename="view_user")
    data = {
        "email": person.email, "name": "Pat Person", "kind": "internal", "auth_profile": "",
        "is_active": "on", "groups": [group.pk], "user_permissions": [permission.pk],
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        "aliases-TOTAL_FORMS": "1", "aliases-INITIAL_FORMS": "0", "aliases-0-email": "pat@example.com",
    }  # fmt: skip
    written = events_during(lambda: admin_client.post(f"/admin/accounts/user/{person.pk}/change/", data))
    assert sorted(written) == ["account.changed", "alias.added", "group.changed", "permission.granted"]
    person.refresh_from_db()
    assert person.name == "Pat Person" and person.groups.get() == group and person.aliases.get().email


def test_an_alias_typed_over_in_the_change_form_is_changed_and_recorded(admin_client, make_user):
    """It was silently kept: the form said saved, the old address stayed an alias."""
    person = make_user("person@example.com", name="Pat")
    old = EmailAlias.objects.create(user=person, email="pat@example.com")
    data = {
        "email": person.email, "name": person.name, "kind": "internal", "auth_profile": "",
        "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        "user_permissions": [portal_permission().pk],
        "aliases-TOTAL_FORMS": "1", "aliases-INITIAL_FORMS": "1",
        "aliases-0-id": old.pk, "aliases-0-user": person.pk, "aliases-0-email": "Patricia@Example.com",
    }  # fmt: skip
    written = events_during(lambda: admin_client.post(f"/admin/accounts/user/{person.pk}/change/", data))
    assert sorted(written) == ["alias.added", "alias.removed"]
    assert [alias.email for alias in person.aliases.all()] == ["patricia@example.com"]
    assert User.objects.find_by_address("pat@example.com") == (None, False)
    assert User.objects.find_by_address("patricia@example.com") == (person, True)


def test_the_add_form_and_the_password_page_record_what_they_did(admin_client):
    add = {
        "email": "new@example.com", "name": "New", "kind": "internal", "usable_password": "true",
        "password1": "a long new password 42", "password2": "a long new password 42",
        "aliases-TOTAL_FORMS": "0", "aliases-INITIAL_FORMS": "0",
    }  # fmt: skip
    assert events_during(lambda: admin_client.post("/admin/accounts/user/add/", add)) == ["account.created"]
    person = User.objects.get(email="new@example.com")
    password = {
        "password1": "another long one 43",
        "password2": "another long one 43",
        "usable_password": "true",
    }
    url = f"/admin/accounts/user/{person.pk}/password/"
    assert events_during(lambda: admin_client.post(url, password)) == ["password.changed"]
    person.refresh_from_db()
    assert person.check_password("another long one 43") and person.must_change_password


def test_the_group_admin_records_and_refuses_rights_the_actor_lacks(admin_client, make_user):
    view_user = Permission.objects.get(codename="view_user")
    written = events_during(
        lambda: admin_client.post(
            "/admin/auth/group/add/", {"name": "Helpdesk", "permissions": [view_user.pk]}
        )
    )
    assert written == ["group.changed"]
    group = Group.objects.get(name="Helpdesk")
    helper = make_user("helper@example.com", is_staff=True)
    helper.groups.add(group)
    helper.user_permissions.add(*Permission.objects.filter(codename__in=["change_group", "view_group"]))
    client = Client()
    log_in(client, "helper@example.com", PASSWORD)
    everything = Permission.objects.get(codename="delete_user")
    answer = client.post(
        f"/admin/auth/group/{group.pk}/change/",
        {"name": "Helpdesk", "permissions": [view_user.pk, everything.pk]},
    )
    assert answer.status_code == 403
    assert list(group.permissions.all()) == [view_user]


def test_lifting_a_lockout_is_recorded(admin_client, make_user):
    make_user("staff@example.com")
    row = Throttle.objects.create(scope=Throttle.Scope.ADDRESS, key="staff@example.com", failures=10)
    data = {"action": "lift", "_selected_action": [row.pk]}
    assert events_during(lambda: admin_client.post("/admin/accounts/throttle/", data)) == ["lockout.lifted"]


def test_demo_data_changes_accounts_through_the_actions():
    written = events_during(lambda: call_command("demo_data", stdout=io.StringIO()))
    assert sorted(written) == ["account.created"] * 2 + ["permission.granted"] * 2
    again = events_during(lambda: call_command("demo_data", stdout=io.StringIO()))
    assert "password.changed" in again
    assert AuditEvent.objects.filter(actor_name="manage.py").count() == len(written) + len(again)


def test_the_directory_group_sync_is_an_action_of_the_system(make_user):
    from accounts import actions

    person = make_user("staff@example.com", portal=False)
    group = actions.directory_group("Directory: portal users")
    written = events_during(lambda: actions.sync_directory_groups(person, group, True))
    assert written == ["directory.groups_synced"]
    assert AuditEvent.objects.filter(event="directory.groups_synced").get().actor_name == "system"
    assert portal_permission() in group.permissions.all()


# Nobody writes around the actions: read the code.

WRITES = re.compile(
    r"user_permissions\.(add|remove|set|clear)\(|groups\.(add|remove|set|clear)\(|permissions\.(add|remove|set|clear)\("
    r"|create_user\(|create_superuser\(|(?<!actions)\.set_password\(|set_unusable_password\(|user\.save\("
    r"|User\.objects\.filter\([^)]*\)\.update\(|EmailAlias\.objects\.create|Passkey\.objects\.create"
    r"|passkeys\.all\(\)\.delete|throttle\.lift\("
    r"|\.update\([^)]*\b(revoked_at|recalled_at|expires_at|purged_at)="
    r"|(TOTPDevice|StaticDevice)\.objects\.filter\([^)]*\)(\.exclude\([^)]*\))?\.delete"
)
# The actions, and the helpers only they call (checked below); the manager that creates accounts.
ALLOWED = {
    "accounts/actions.py",
    "messaging/actions.py",
    "accounts/passwords.py",
    "accounts/twostep.py",
    "accounts/models.py",
    "api/keys.py",  # the API keys' own actions: checked against the power rule and audited
    "messaging/purging.py",  # the content's deletion: called by messaging.actions.purge and the holding only
}
HELPERS = re.compile(
    r"\b(passwords\.(set_password|remove_password|set_password_to_change|finish_password_change)"
    r"|twostep\.(reset|new_backup_codes|confirm_enrolment))\("
)


def source_files():
    for app in ("accounts", "messaging", "portal", "api"):
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(ROOT).as_posix(), path.read_text()


def test_nothing_outside_the_actions_writes_rights_passwords_devices_or_a_messages_fate():
    found = {
        f"{name}:{text.count(chr(10), 0, match.start()) + 1}": match.group(0)
        for name, text in source_files()
        if name not in ALLOWED
        for match in WRITES.finditer(text)
    }
    assert found == {}


def test_the_writing_helpers_are_called_by_the_actions_only():
    found = {
        f"{name}:{text.count(chr(10), 0, match.start()) + 1}": match.group(0)
        for name, text in source_files()
        if name != "accounts/actions.py"
        for match in HELPERS.finditer(text)
    }
    assert found == {}


def test_a_messages_content_is_purged_by_the_checked_action_or_the_holding_only():
    """messaging.purging checks nobody: the action checks the actor; the holding purges, as the system, a
    message it refuses (SCAN_TOO_LARGE=refuse)."""
    callers = {name for name, text in source_files() if re.search(r"\bpurging\.purge_content\(", text)}
    assert callers == {"messaging/actions.py", "messaging/holding.py"}


def test_the_scan_finds_a_write_it_is_looking_for():
    """The scan is not blind: a grant written in a view would be caught."""
    assert WRITES.search("    request.user.user_permissions.add(permission)")
    assert WRITES.search("Message.objects.filter(pk=1).update(revoked_at=now)")
    assert HELPERS.search("twostep.reset(user)")


def test_djangos_own_account_commands_are_in_the_trail(monkeypatch):
    out = io.StringIO()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long enough passphrase 7")
    written = events_during(
        lambda: call_command("createsuperuser", "--no-input", "--email", "root@example.com", stdout=out)
    )
    assert written == ["account.created"]
    root = User.objects.get(email="root@example.com")
    from accounts.django_commands.management.commands import changepassword

    typed = iter(["another passphrase 8 long", "another passphrase 8 long"])
    monkeypatch.setattr(changepassword.Command, "_get_pass", lambda self, prompt=None: next(typed))
    written = events_during(lambda: call_command("changepassword", "root@example.com", stdout=out))
    assert written == ["password.changed"]
    root.refresh_from_db()
    assert root.check_password("another passphrase 8 long") and not root.must_change_password
    assert set(AuditEvent.objects.values_list("actor_name", flat=True)) == {"manage.py"}


def test_the_purge_timer_records_each_message_it_empties(hold_message):
    from datetime import timedelta

    from django.utils import timezone

    from messaging.models import Message

    message = hold_message(["client@outside.example"])
    Message.objects.update(expires_at=timezone.now() - timedelta(days=400))
    written = events_during(lambda: call_command("purge_expired", stdout=io.StringIO()))
    assert written == ["message.purged"]
    message.refresh_from_db()
    assert message.purged_at and message.body_text == b""


# What decides who may sign in, or where data goes (issue: a plain ModelAdmin saved these unrecorded).


def profile_form(profile, **changes):
    fields = {
        "name": profile.name, "domains": profile.domains, "methods": profile.methods,
        "temporary_password_hours": profile.temporary_password_hours,
        "session_minutes": profile.session_minutes, "message_expiry_days": profile.message_expiry_days,
        **({"require_two_step": "on"} if profile.require_two_step else {}),
        **({"is_default": "on"} if profile.is_default else {}),
    }  # fmt: skip
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def helper_with(make_user, *codenames):
    helper = make_user("helper@example.com", is_staff=True)
    helper.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    log_in(client, "helper@example.com", PASSWORD)
    return client


def test_nobody_weakens_the_sign_in_of_accounts_with_more_rights_than_theirs(
    admin_client, make_user, make_profile
):
    from accounts.models import AuthProfile

    admins = make_profile("Administrators", domains="corp.example", methods="saml", require_two_step=True)
    make_user("root@corp.example", is_staff=True, is_superuser=True)
    helper = helper_with(make_user, "change_authprofile", "view_authprofile", "add_authprofile")
    weaker = profile_form(admins, methods="cloud", require_two_step=None, session_minutes=525600)
    assert helper.post(f"/admin/accounts/authprofile/{admins.pk}/change/", weaker).status_code == 403
    assert AuthProfile.objects.get(pk=admins.pk).methods == "saml"
    # Nor by a profile of their own that claims the superuser's domain.
    staff = make_profile("Staff", domains="staff.example", methods="cloud")
    claim = helper.post(
        f"/admin/accounts/authprofile/{staff.pk}/change/",
        profile_form(staff, domains="staff.example\ncorp.example"),
    )
    assert "would decide how accounts with rights that you do not have sign in" in claim.content.decode()
    assert AuthProfile.objects.get(pk=staff.pk).domains == "staff.example"
    assert not AuditEvent.objects.filter(event="auth_profile.changed").exists()

    written = events_during(
        lambda: admin_client.post(f"/admin/accounts/authprofile/{admins.pk}/change/", weaker)
    )
    assert written == ["auth_profile.changed"]
    event = AuditEvent.objects.get(event="auth_profile.changed")
    assert event.actor_name == "admin@example.com" and event.details["profile"] == "Administrators"
    assert event.details["changes"]["methods"] == ["saml", "cloud"]
    assert event.details["changes"]["require_two_step"] == ["True", "False"]


def test_webhook_endpoints_are_a_superusers_and_each_change_is_recorded(admin_client, make_user, settings):
    from api.models import WebhookDelivery, WebhookEndpoint

    settings.WEBHOOK_ALLOW_PRIVATE = True
    helper = helper_with(make_user, "add_webhookendpoint", "change_webhookendpoint", "view_webhookendpoint")
    form = {"url": "https://127.0.0.1:9/portal", "description": "SIEM", "events": ["message.held"],
            "enabled": "on"}  # fmt: skip
    assert helper.post("/admin/api/webhookendpoint/add/", form).status_code == 403
    assert not WebhookEndpoint.objects.exists()
    written = events_during(lambda: admin_client.post("/admin/api/webhookendpoint/add/", form))
    assert written == ["webhook.changed"]
    endpoint = WebhookEndpoint.objects.get()
    event = AuditEvent.objects.get(event="webhook.changed")
    assert event.details["created"] is True and event.details["url"] == "https://127.0.0.1:9/portal"
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event_type="message.held", payload={},
                                              failed_at=endpoint.created_at)  # fmt: skip
    written = events_during(
        lambda: admin_client.post(
            "/admin/api/webhookdelivery/", {"action": "resend", "_selected_action": [delivery.pk]}
        )
    )
    assert written == ["webhook.resent"]


def test_the_branding_saved_is_recorded(admin_client):
    form = {"name": "Northwind Legal", "colour": "#0b4f8a", "footer": "", "support_contact": "",
            "email_subject": "", "email_introduction": ""}  # fmt: skip
    admin_client.get("/admin/portal/branding/")  # the one row, made on first visit
    written = events_during(lambda: admin_client.post("/admin/portal/branding/1/change/", form))
    assert written == ["branding.changed"]
    assert "name" in AuditEvent.objects.get(event="branding.changed").details["changed"]


def test_a_temporary_password_issued_by_the_worker_and_used_once_are_recorded(make_user, mailbox):
    from accounts.passwords import password_help
    from messaging.notify import deliver_due

    from .test_passwords import temporary_password_in

    person = make_user("staff@example.com")
    password_help("staff@example.com", "192.0.2.1")
    deliver_due()
    issued = AuditEvent.objects.get(event="password.temporary_issued")
    assert (issued.actor_name, issued.subject, issued.details["reason"]) == (
        "system",
        person,
        "forgot_password",
    )
    log_in(Client(), "staff@example.com", temporary_password_in(mailbox.wait_for(1)[0]))
    used = AuditEvent.objects.get(event="password.temporary_used")
    assert (used.actor_name, used.subject) == ("staff@example.com", person)


def test_the_operators_guide_names_every_audit_event():
    guide = (ROOT / "docs" / "audit.md").read_text()
    assert [e.value for e in AuditEvent.Event if f"`{e.value}`" not in guide] == []
