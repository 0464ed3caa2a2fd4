"""Who may do what: every privileged action goes through `actions`, checked and recorded; nobody acts on
an account with more power than their own; one access rule decides what a person may do with a message."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import actions as account_actions
from accounts import twostep
from accounts.models import Passkey, Throttle, User
from messaging import access
from messaging import actions as message_actions
from messaging.models import AccessEvent, Message, Notification, Recipient
from portal.client import Client as ActionClient

from .helpers import account_events, log_in

pytestmark = pytest.mark.django_db

SUPERUSER_PASSWORD = "the superuser's own secret"
ATTACKER_PASSWORD = "chosen by the helpdesk 42!"
USER_ACTIONS = [
    "grant_portal_access",
    "revoke_portal_access",
    "send_temporary_password",
    "set_password_to_change",
    "reset_two_step",
    "deactivate",
    "reactivate",
    "remove_passkeys",
]


def permission(name):
    app, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app, codename=codename)


@pytest.fixture
def superuser(make_user):
    user = make_user("root@example.com", SUPERUSER_PASSWORD, is_staff=True, is_superuser=True)
    device = twostep.start_enrolment(user)
    device.confirmed = True
    device.save()
    twostep.new_backup_codes(user)
    Passkey.objects.create(user=user, name="Root's key", credential_id="cm9vdA", public_key=b"cose")
    return user


@pytest.fixture
def helpdesk(make_user):
    """helpdesk(*permissions): a staff member of the helpdesk, signed in to the admin in a client."""

    def make(*permissions):
        user = make_user("helpdesk@example.com", is_staff=True)
        user.user_permissions.add(*(permission(p) for p in permissions))
        client = Client()
        client.force_login(user)
        return user, client

    return make


def run_action(client, model_url, action, objects, **extra):
    data = {"action": action, "_selected_action": [o.pk for o in objects], "confirm": "yes", **extra}
    return client.post(model_url, data, follow=True)


def superuser_untouched(superuser):
    superuser.refresh_from_db()
    assert superuser.check_password(SUPERUSER_PASSWORD) and not superuser.must_change_password
    assert superuser.is_active and superuser.has_perm("accounts.access_portal")
    assert TOTPDevice.objects.filter(user=superuser, confirmed=True).exists()
    assert StaticDevice.objects.filter(user=superuser).exists()
    assert not superuser.password_requests.exists()
    assert superuser.passkeys.exists()


# The takeover the review found, and its class.


@pytest.mark.parametrize("action", USER_ACTIONS)
def test_staff_who_may_only_view_users_run_no_action_on_a_superuser(superuser, helpdesk, action):
    _user, client = helpdesk("accounts.view_user")
    listing = client.get("/admin/accounts/user/").content.decode()
    assert f'value="{action}"' not in listing  # not offered
    run_action(client, "/admin/accounts/user/", action, [superuser], password=ATTACKER_PASSWORD)
    superuser_untouched(superuser)
    assert not account_events().exists()


def test_the_takeover_fails_and_the_superuser_keeps_their_account(superuser, helpdesk):
    _user, client = helpdesk("accounts.view_user", "accounts.change_user")
    run_action(
        client, "/admin/accounts/user/", "set_password_to_change", [superuser], password=ATTACKER_PASSWORD
    )
    page = run_action(client, "/admin/accounts/user/", "reset_two_step", [superuser]).content.decode()
    assert "Refused for root@example.com: they have rights that you do not have." in page
    superuser_untouched(superuser)
    assert not account_events().exists()
    attacker = Client()
    log_in(attacker, "root@example.com", ATTACKER_PASSWORD)
    assert "_auth_user_id" not in attacker.session


@pytest.mark.parametrize("action", USER_ACTIONS)
def test_staff_who_may_change_users_act_on_a_weaker_account_and_it_is_recorded(make_user, helpdesk, action):
    helper, client = helpdesk("accounts.view_user", "accounts.change_user")
    person = make_user("person@example.com")
    page = run_action(client, "/admin/accounts/user/", action, [person], password=ATTACKER_PASSWORD)
    assert "done for 1 account." in page.content.decode()
    entry = account_events().get(subject=person)
    assert (entry.actor, entry.actor_name, entry.ip) == (helper, "helpdesk@example.com", "127.0.0.1")


def test_an_account_with_a_right_the_actor_lacks_is_out_of_reach(make_user, helpdesk):
    _user, client = helpdesk("accounts.view_user", "accounts.change_user")
    reader = make_user("reader@example.com")
    reader.user_permissions.add(permission("messaging.view_message_content"))
    run_action(client, "/admin/accounts/user/", "deactivate", [reader])
    reader.refresh_from_db()
    assert reader.is_active
    # The same right through a group counts too.
    group = Group.objects.create(name="Auditors")
    group.permissions.add(permission("messaging.view_message_content"))
    other = make_user("other@example.com")
    other.groups.add(group)
    assert not account_actions.has_power_over(_user, other)


def test_helpdesk_cannot_edit_a_superuser_nor_give_themselves_rights(superuser, helpdesk):
    helper, client = helpdesk("accounts.view_user", "accounts.change_user")
    assert client.get(f"/admin/accounts/user/{superuser.pk}/password/").status_code == 403
    response = client.post(
        f"/admin/accounts/user/{superuser.pk}/password/",
        {"password1": ATTACKER_PASSWORD, "password2": ATTACKER_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 403
    superuser_untouched(superuser)
    own = client.get(f"/admin/accounts/user/{helper.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in own and 'name="user_permissions"' not in own


def test_helpdesk_who_may_delete_users_cannot_delete_a_superuser(superuser, helpdesk, make_user):
    _user, client = helpdesk("accounts.view_user", "accounts.delete_user")
    person = make_user("person@example.com")
    data = {"action": "delete_selected", "_selected_action": [superuser.pk, person.pk]}
    page = client.post("/admin/accounts/user/", data).content.decode()
    assert "accounts with rights that you do not have" in page  # the confirmation page says why not
    assert client.post("/admin/accounts/user/", {**data, "post": "yes"}).status_code == 403
    assert User.objects.filter(pk__in=[superuser.pk, person.pk]).count() == 2
    assert client.post(f"/admin/accounts/user/{superuser.pk}/delete/", {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=superuser.pk).exists()


def test_every_admin_action_of_the_project_declares_its_permission():
    undeclared = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in {"accounts", "messaging"}:
            continue
        for name in model_admin.actions or []:
            function = getattr(model_admin, name) if isinstance(name, str) else name
            if not getattr(function, "allowed_permissions", None):
                undeclared.append(f"{model.__name__}.{name}")
    assert undeclared == []


# The doctor's fixes go through the same actions.


def test_the_doctor_fixes_nothing_for_staff_who_may_only_view(superuser, helpdesk):
    _user, client = helpdesk("accounts.view_user")
    for fix in [
        "grant_permission",
        "send_temporary_password",
        "reset_two_step",
        "reactivate",
        "lift_lockout",
    ]:
        response = client.post("/admin/diagnose/fix/", {"email": "root@example.com", "fix": fix})
        assert response.status_code == 403
    superuser_untouched(superuser)


def test_the_doctor_refuses_to_reset_a_superuser_for_the_helpdesk(superuser, helpdesk):
    _user, client = helpdesk("accounts.view_user", "accounts.change_user")
    response = client.post(
        "/admin/diagnose/fix/", {"email": "root@example.com", "fix": "reset_two_step"}, follow=True
    )
    assert "The account root@example.com has rights that you do not have" in response.content.decode()
    superuser_untouched(superuser)


def test_what_the_user_list_did_shows_in_the_doctors_history(make_user, helpdesk):
    _user, client = helpdesk("accounts.view_user", "accounts.change_user")
    person = make_user("person@example.com")
    run_action(client, "/admin/accounts/user/", "reset_two_step", [person])
    page = client.get("/admin/diagnose/", {"email": "person@example.com"}).content.decode()
    assert "helpdesk@example.com — Two-step reset (from 127.0.0.1)" in page


def test_lifting_the_lockout_of_a_stronger_account_is_refused(superuser, helpdesk, settings):
    helper, client = helpdesk("accounts.view_throttle", "accounts.change_throttle")
    row = Throttle.objects.create(
        scope=Throttle.Scope.ADDRESS,
        key=superuser.email,
        failures=10,
        locked_until=timezone.now() + timedelta(hours=1),
    )
    page = run_action(client, "/admin/accounts/throttle/", "lift", [row]).content.decode()
    assert "The account root@example.com has rights that you do not have" in page
    row.refresh_from_db()
    assert row.is_locked and not account_events().exists()


# Rights are checked at every request.


def test_removing_the_portal_permission_ends_access_at_the_next_page(make_user):
    person = make_user("staff@example.com")
    client = Client()
    log_in(client, "staff@example.com", "correct horse battery")
    assert client.get("/").status_code == 200
    person.user_permissions.clear()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session


def test_deactivating_an_account_ends_its_session_at_the_next_page(make_user):
    make_user("admin@example.com", is_staff=True, is_superuser=True)
    person = make_user("staff@example.com")
    client = Client()
    log_in(client, "staff@example.com", "correct horse battery")
    account_actions.deactivate(User.objects.get(email="admin@example.com"), ActionClient(), person)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# Messages: the admin's actions are the sender's actions.


@pytest.fixture
def message_admin(make_user):
    user = make_user("msgadmin@example.com", is_staff=True)
    user.user_permissions.add(permission("messaging.view_message"), permission("messaging.change_message"))
    client = Client()
    client.force_login(user)
    return user, client


def test_the_admins_resend_voids_the_old_link_and_is_recorded(hold_message, message_admin):
    from messaging import tokens

    message = hold_message(["client@outside.example"])
    recipient = message.recipients.get()
    old_token, recipient.token_hash = tokens.new_token()
    recipient.save()
    _user, client = message_admin
    run_action(client, "/admin/messaging/message/", "resend_notifications", [message])
    recipient.refresh_from_db()
    assert recipient.token_hash == ""
    assert Client().get(f"/m/{old_token}/").status_code == 404
    event = AccessEvent.objects.get(message=message, action=AccessEvent.Action.RESEND)
    assert (event.user, event.detail) == (message_admin[0], "client@outside.example")
    assert Notification.objects.filter(recipient=recipient, kind=Notification.Kind.NEW_MESSAGE).count() == 2


def test_the_admins_revoke_is_recorded_as_a_recall(hold_message, message_admin):
    message = hold_message(["client@outside.example"])
    _user, client = message_admin
    run_action(client, "/admin/messaging/message/", "revoke_messages", [message])
    message.refresh_from_db()
    assert message.revoked_at is not None
    event = AccessEvent.objects.get(message=message, action=AccessEvent.Action.RECALL)
    assert (event.user, event.detail) == (message_admin[0], "all recipients")


def test_staff_who_may_only_view_messages_cannot_recall_or_resend(hold_message, helpdesk):
    message = hold_message(["client@outside.example"])
    _user, client = helpdesk("messaging.view_message")
    queued = Notification.objects.count()
    run_action(client, "/admin/messaging/message/", "revoke_messages", [message])
    run_action(client, "/admin/messaging/message/", "resend_notifications", [message])
    message.refresh_from_db()
    assert message.revoked_at is None and not AccessEvent.objects.exists()
    assert Notification.objects.count() == queued


def test_nobody_but_the_sender_recalls_through_the_actions(hold_message, make_user):
    message = hold_message(["client@outside.example"])
    stranger = make_user("stranger@example.com")
    with pytest.raises(message_actions.Refused):
        message_actions.recall(stranger, ActionClient(), message)
    with pytest.raises(message_actions.Refused):
        message_actions.extend(stranger, ActionClient(), message, timezone.now() + timedelta(days=3))
    with pytest.raises(message_actions.Refused):
        message_actions.resend(stranger, ActionClient(), message.recipients.get())
    message.refresh_from_db()
    assert message.revoked_at is None and not AccessEvent.objects.exists()


def test_every_message_action_writes_its_access_event(hold_message):
    message = hold_message(["client@outside.example"])
    sender, recipient = message.sender_user, message.recipients.get()
    reader = recipient.user
    where = ActionClient(ip="192.0.2.5", user_agent="Test")
    message_actions.extend(sender, where, message, timezone.now() + timedelta(days=3))
    message_actions.resend(sender, where, recipient)
    message_actions.recall(sender, where, message, recipient)
    message_actions.mark_unread(reader, where, access.rights(reader, message.public_id))
    message_actions.move(reader, where, [str(message.public_id)], Recipient.Folder.DELETED)
    events = AccessEvent.objects.filter(message=message).order_by("pk")
    assert [(e.action, e.user.email, e.ip) for e in events] == [
        ("extend", "sender@example.com", "192.0.2.5"),
        ("resend", "sender@example.com", "192.0.2.5"),
        ("recall", "sender@example.com", "192.0.2.5"),
        ("mark_unread", "client@outside.example", "192.0.2.5"),
        ("move", "client@outside.example", "192.0.2.5"),
    ]


def test_a_reader_marks_only_their_own_copy_unread(hold_message, make_user):
    message = hold_message(["client@outside.example", "other@outside.example"])
    theirs = message.recipients.get(address="other@outside.example")
    me = User.objects.get(email="client@outside.example")
    with pytest.raises(message_actions.Refused):
        message_actions.mark_unread(me, ActionClient(), access.rights(theirs.user, message.public_id))
    assert not AccessEvent.objects.exists()


# One access rule, as a table.


def _message(**fields):
    values = {
        "sender": "sue@example.com",
        "sender_user_id": 1,
        "subject": "s",
        "expires_at": timezone.now() + timedelta(days=1),
        "allow_reply": True,
        "restricted": False,
        "shown_recipients": ["ann@outside.example", "bob@outside.example"],
    }
    values.update(fields)
    return Message(**values)


class Person:
    def __init__(self, pk, email):
        self.pk, self.email = pk, email
        self.is_authenticated = True


SUE, ANN = Person(1, "sue@example.com"), Person(2, "ann@outside.example")
NOW = timezone.now()
CASES = [
    # (who, message fields, recipient fields or None, read, print, download, reply_to, reply_all_to, manage)
    ("sender", {}, None, True, True, True, (), (), True),
    ("sender, purged", {"purged_at": NOW}, None, False, False, False, (), (), True),
    ("stranger", {"sender_user_id": 9}, None, False, False, False, (), (), False),
    (
        "recipient",
        {},
        {},
        True,
        True,
        True,
        ("sue@example.com",),
        ("sue@example.com", "bob@outside.example"),
        False,
    ),
    (
        "recipient, restricted",
        {"restricted": True},
        {},
        True,
        False,
        False,
        ("sue@example.com",),
        None,
        False,
    ),
    ("recipient, no replies", {"allow_reply": False}, {}, True, True, True, (), (), False),
    ("recipient, expired", {"expires_at": NOW - timedelta(days=1)}, {}, False, False, False, (), (), False),
    ("recipient, recalled for all", {"revoked_at": NOW}, {}, False, False, False, (), (), False),
    ("recipient, recalled for them", {}, {"recalled_at": NOW}, False, False, False, (), (), False),
    (
        "blind copy",
        {},
        {"address": "carol@outside.example"},
        True,
        True,
        True,
        ("sue@example.com",),
        None,
        False,
    ),
]


@pytest.mark.parametrize(
    ("who", "fields", "copy", "read", "print_", "download", "reply_to", "reply_all_to", "manage"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_the_access_rule(who, fields, copy, read, print_, download, reply_to, reply_all_to, manage):
    message = _message(**fields)
    recipient = None
    if copy is not None:
        address = copy.pop("address", ANN.email)
        recipient = Recipient(message=message, user_id=ANN.pk, address=address, **copy)
    rights = access.rights_of(ANN if recipient is not None else SUE, message, recipient)
    assert (rights.read, rights.print, rights.download, rights.manage) == (read, print_, download, manage)
    assert rights.reply_to == reply_to
    if reply_all_to is not None:
        assert rights.reply_all_to == reply_all_to
    if who == "blind copy":  # a blind copy replies to everyone shown, never to itself nor to the reader
        assert set(rights.reply_all_to) == {"sue@example.com", "bob@outside.example"}
