"""Every change to someone's account: checked, done and recorded in one transaction.

The admin (its actions, change forms, password page, groups), the login doctor's fixes, the Security
page, the directory's group sync and every command call these functions and nothing else to change
a person's rights, password, two-step, passkeys, sessions or lockout. Each action checks that the
actor holds its `permission` and has at least the power of the account it touches (only a superuser
changes a superuser; anyone else only an account whose permissions are all theirs too), then writes
its audit event (`portal.audit`) in the same transaction. A person's own changes (`SELF`) need only
that the account is theirs; the portal's own work (`audit.SYSTEM`) and commands (`COMMAND_LINE`)
are trusted actors.
"""

import functools
import logging
import operator
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal import audit
from portal.audit import Actor, Event
from portal.client import Client

from . import passwords, sessions, throttle, twostep
from .models import (
    PORTAL_PERMISSION,
    AuthProfile,
    EmailAlias,
    Passkey,
    ProviderIdentity,
    Throttle,
    User,
    normalize_address,
    portal_permission,
)

log = logging.getLogger("portal.actions")

CHANGE_USER = "accounts.change_user"
ADD_USER = "accounts.add_user"
DELETE_USER = "accounts.delete_user"
CHANGE_LOCKOUT = "accounts.change_throttle"
CHANGE_GROUP = "auth.change_group"
SELF = "self"  # the permission of a person's changes to their own account
COMMAND_LINE = audit.COMMAND_LINE

# Fields that decide who someone is or how they sign in: never changed on one's own account.
IDENTITY_FIELDS = {"email", "kind", "auth_profile"}
# Fields only a superuser changes (they are power).
POWER_FIELDS = {"is_staff", "is_superuser"}


Details = dict[str, Any] | None  # what an account action's change gives its audit event


class SessionsEnded(StrEnum):
    """Which sessions a `session.ended` event ended (its `details.scope`)."""

    LOGOUT = "logout"  # the person logged out
    BY_OWNER = "by_owner"  # the person ended one of theirs on the Security page
    OTHERS = "others"  # every one of theirs but the one in use
    ALL = "all"  # every one of the account's (an administrator)
    SINGLE_LOGOUT = "single_logout"  # the identity provider ended the person's session there


class Refused(PermissionDenied):
    """The actor may not do this (to this account): nothing was changed, nothing recorded as done."""


def permissions_of(user: User) -> set[str]:
    """Every permission an account holds, directly or through its groups, as 'app.codename', whether
    or not the account is active (a deactivated administrator keeps their power for this rule)."""
    held = Permission.objects.filter(Q(user=user) | Q(group__user=user)).values_list(
        "content_type__app_label", "codename"
    )
    return {f"{app}.{codename}" for app, codename in held}


def names_of(permissions: Iterable[Permission]) -> set[str]:
    """'app.codename' of each Permission row."""
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def has_power_over(actor: Actor, target: User) -> bool:
    """Only a superuser acts on a superuser; anyone else only on an account whose every permission
    they hold too."""
    if audit.is_trusted(actor):
        return True
    if target.is_superuser:
        return actor.is_superuser
    if actor.is_superuser:
        return True
    return permissions_of(target) <= actor.get_all_permissions()


def check(actor: Actor, permission: str, target: User | None = None) -> None:
    """Raise Refused unless `actor` may use `permission` on `target` (an account, or None)."""
    if audit.is_trusted(actor):
        return
    if actor is None or isinstance(actor, str) or not actor.is_active:
        raise Refused(_("You do not have the permission to do this."))
    if permission == SELF:
        if target is None or target.pk != actor.pk:
            raise Refused(_("You can only change your own account here."))
        return
    if not actor.has_perm(permission):
        raise Refused(_("You do not have the permission to do this."))
    if target is not None and not has_power_over(actor, target):
        raise Refused(
            _(
                "The account %(account)s has rights that you do not have: only an administrator with "
                "those rights can change it."
            )
            % {"account": target.email}
        )


class Action:
    """A checked change, callable as the function it wraps, with what the admin and the login doctor
    show of it: its `label`, the `permission` it needs and the audit `event` it writes."""

    def __init__(self, run: Callable[..., Any], permission: str, label: Promise, event: str) -> None:
        functools.update_wrapper(self, run)
        self.run, self.permission, self.label, self.event = run, permission, label, event

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.run(*args, **kwargs)


def account_action(permission: str, label: Promise, event: str) -> Callable[[Callable[..., Any]], Action]:
    """Wrap a change of one account: check, change and record it, or neither. The change returns the
    event's details (a dict) or None; the action is called as (actor, client, user, *args)."""

    def decorate(change: Callable[..., dict[str, Any] | None]) -> Action:
        def action(actor: Actor, client: Client | None, user: User, *args: Any, **kwargs: Any) -> None:
            check(actor, permission, user)
            with transaction.atomic():
                details = change(actor, user, *args, **kwargs) or {}
                audit.record(event, actor=actor, client=client, subject=user, **details)
            log.info("event=account_action action=%s subject=%s", event, user.pk)

        functools.update_wrapper(action, change)
        return Action(action, permission, label, event)

    return decorate


# -- The administrator's actions (admin, login doctor) ------------------------------------------------


@account_action(CHANGE_USER, gettext_lazy("Grant the portal permission"), Event.PERMISSION_GRANTED)
def grant_portal_access(actor: Actor, user: User) -> Details:
    """Give the portal permission directly."""
    user.user_permissions.add(portal_permission())
    return {"permission": PORTAL_PERMISSION}


@account_action(
    CHANGE_USER, gettext_lazy("Remove the portal permission (given directly)"), Event.PERMISSION_REMOVED
)
def remove_portal_access(actor: Actor, user: User) -> Details:
    """Take back a directly given portal permission (a group's stays: change the group)."""
    user.user_permissions.remove(portal_permission())
    return {"permission": PORTAL_PERMISSION}


@account_action(CHANGE_USER, gettext_lazy("Send a temporary password"), Event.PASSWORD_RESET_SENT)
def send_temporary_password(actor: Actor, user: User) -> None:
    """Queue a temporary password; the notification worker issues and sends it."""
    _name, by = audit.actor_fields(actor)
    passwords.queue_temporary_password(user, requested_by=by)


@account_action(SELF, gettext_lazy("Sign in with a temporary password"), Event.TEMPORARY_PASSWORD_USED)
def start_using_temporary_password(actor: Actor, user: User, typed: str) -> Details:
    """The first sign-in with a temporary password: it replaces the password, to be changed now."""
    passwords.start_using_temporary_password(user, typed)
    return {"must_change": True}


@account_action(
    CHANGE_USER, gettext_lazy("Set a password, to be changed at next login"), Event.PASSWORD_CHANGED
)
def set_password_to_change(actor: Actor, user: User, password: str) -> Details:
    """A password the administrator chose; the person must replace it at the next login."""
    passwords.set_password_to_change(user, password)
    sessions.end_all(user)
    return {"by": "administrator", "must_change": True}


@account_action(CHANGE_USER, gettext_lazy("Set the password"), Event.PASSWORD_CHANGED)
def set_password(actor: Actor, user: User, password: str | None, *, must_change: bool = True) -> Details:
    """The admin's own password page: a password the administrator chose (to be changed at the next
    login), or none at all (None). Every session of the account ends."""
    if password is None:
        passwords.remove_password(user)
    else:
        passwords.set_password(user, password, must_change=must_change)
    sessions.end_all(user)
    return {"by": "administrator", "usable": password is not None, "must_change": must_change or None}


@account_action(CHANGE_USER, gettext_lazy("Reset two-step"), Event.TWO_STEP_RESET)
def reset_two_step(actor: Actor, user: User) -> None:
    """Remove the authenticator apps and backup codes: the person sets up again at the next login."""
    twostep.reset(user)


@account_action(CHANGE_USER, gettext_lazy("Remove the passkeys"), Event.PASSKEY_REMOVED)
def remove_passkeys(actor: Actor, user: User) -> Details:
    """After a lost device: the person signs in with their password and adds a new passkey."""
    removed = user.passkeys.all().delete()[0]
    return {"count": removed}


@account_action(
    CHANGE_USER, gettext_lazy("Forget the links to the OpenID provider"), Event.IDENTITY_FORGOTTEN
)
def forget_provider_identities(actor: Actor, user: User) -> Details:
    """After the provider gave the person a new subject (an account made again there, a tenant moved):
    the next sign-in links the new one."""
    return {"count": user.provider_identities.all().delete()[0]}


@account_action(CHANGE_USER, gettext_lazy("Reactivate the account"), Event.ACCOUNT_REACTIVATED)
def reactivate(actor: Actor, user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=True)
    user.is_active = True


@account_action(CHANGE_USER, gettext_lazy("Deactivate the account"), Event.ACCOUNT_DEACTIVATED)
def deactivate(actor: Actor, user: User) -> None:
    """The account can no longer sign in; its sessions end at once."""
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False
    sessions.end_all(user)


@account_action(CHANGE_USER, gettext_lazy("End all sessions"), Event.SESSION_ENDED)
def end_all_sessions(actor: Actor, user: User) -> Details:
    """Log the person out everywhere (a lost laptop, a leaving employee)."""
    return {"count": sessions.end_all(user), "scope": SessionsEnded.ALL}


def _lift_lockouts(actor: Actor, client: Client | None, rows: Iterable[Throttle]) -> None:
    """Lift lockouts early. A lockout of an account's address counts as acting on that account."""
    check(actor, CHANGE_LOCKOUT)
    rows, owners = list(rows), {}
    for row in rows:
        if row.scope == Throttle.Scope.ADDRESS:
            owner, _alias = User.objects.find_by_address(row.key)
            if owner is not None:
                check(actor, CHANGE_LOCKOUT, owner)
                owners[row.pk] = owner
    _name, by = audit.actor_fields(actor)
    with transaction.atomic():
        for row in rows:
            throttle.lift(row, by=by)
            audit.record(
                Event.LOCKOUT_LIFTED,
                actor=actor,
                client=client,
                subject=owners.get(row.pk) or "",
                scope=row.scope,
                key=row.key,
            )


lift_lockouts = Action(_lift_lockouts, CHANGE_LOCKOUT, gettext_lazy("Lift the lockout"), Event.LOCKOUT_LIFTED)


# -- Accounts as the admin's forms and the commands make and change them ------------------------------


def create_account(
    actor: Actor, client: Client | None, email: str, password: str | None = None, **fields: Any
) -> User:
    """A new account (the admin's add form, commands): an administrator makes no one stronger than
    themselves, so rights are given afterwards, through the actions."""
    check(actor, ADD_USER)
    if (fields.get("is_staff") or fields.get("is_superuser")) and not (
        audit.is_trusted(actor) or actor.is_superuser
    ):
        raise Refused(_("Only a superuser makes administrators."))
    with transaction.atomic():
        user = User.objects.create_user(email, password=password, **fields)
        audit.record(
            Event.ACCOUNT_CREATED, actor=actor, client=client, subject=user, kind=user.kind,
            staff=user.is_staff or None, superuser=user.is_superuser or None,
        )  # fmt: skip
    return user


def record_created_by_django(actor: Actor, client: Client | None, user: User) -> None:
    """An account Django's own createsuperuser made (in the command's transaction): in the trail too."""
    check(actor, ADD_USER)
    audit.record(
        Event.ACCOUNT_CREATED, actor=actor, client=client, subject=user, kind=user.kind,
        staff=user.is_staff or None, superuser=user.is_superuser or None,
    )  # fmt: skip


def change_account(actor: Actor, client: Client | None, user: User, changes: dict[str, Any]) -> None:
    """Change fields of an account (the admin's change form): `changes` maps field names to values.

    Who someone is and how they sign in (address, kind, profile) is never changed on one's own account;
    administrator and superuser flags only by a superuser; the active flag through (de)activate."""
    check(actor, CHANGE_USER, user)
    names = set(changes)
    if not audit.is_trusted(actor):
        if names & IDENTITY_FIELDS and user.pk == actor.pk:
            raise Refused(_("Nobody changes the address, kind or profile of their own account."))
        if names & POWER_FIELDS and not actor.is_superuser:
            raise Refused(_("Only a superuser makes or unmakes administrators."))
        if "kind" in names and not actor.is_superuser:
            # Staff sign in anywhere; a recipient only through their message's link. Turning one into
            # the other would let an administrator sign in as a recipient and read their messages.
            raise Refused(_("Only a superuser turns a recipient into staff, or staff into a recipient."))
    if "email" in changes:
        address = normalize_address(changes["email"])
        if EmailAlias.objects.filter(email=address).exclude(user=user).exists():
            raise Refused(_("This address is already another user's alias."))
        changes = {**changes, "email": address}
    active = changes.pop("is_active", None)
    with transaction.atomic():
        old = {name: _shown(getattr(user, name)) for name in changes}
        for name, value in changes.items():
            setattr(user, name, value)
        if changes:
            user.save(update_fields=list(changes))
            audit.record(
                Event.ACCOUNT_CHANGED,
                actor=actor,
                client=client,
                subject=user,
                fields=sorted(changes),
                old={k: v for k, v in old.items() if k in {"email", "kind", "auth_profile", "name"}},
                new={
                    k: _shown(v) for k, v in changes.items() if k in {"email", "kind", "auth_profile", "name"}
                },
            )
    if active is not None and active != user.is_active:
        (reactivate if active else deactivate)(actor, client, user)


def _shown(value: Any) -> Any:
    """A field's value as the trail keeps it (a profile by its name)."""
    return str(value) if value is not None and not isinstance(value, bool | int) else value


def delete_account(actor: Actor, client: Client | None, user: User) -> None:
    check(actor, DELETE_USER, user)
    if not audit.is_trusted(actor) and user.pk == actor.pk:
        raise Refused(_("Nobody deletes their own account."))
    with transaction.atomic():
        sessions.end_all(user)
        audit.record(Event.ACCOUNT_DELETED, actor=actor, client=client, subject=user.email, kind=user.kind)
        user.delete()


def set_groups(actor: Actor, client: Client | None, user: User, groups: Iterable[Group]) -> None:
    """An account's groups, as the admin's form gives them: only a superuser hands out rights, and
    nobody gives a group whose permissions they do not hold."""
    check(actor, CHANGE_USER, user)
    groups = set(groups)
    before = set(user.groups.all())
    _check_handing_out(actor, user, Permission.objects.filter(group__in=groups ^ before))
    if groups == before:
        return
    with transaction.atomic():
        user.groups.set(groups)
        user.portal_access = None
        audit.record(
            Event.GROUP_CHANGED, actor=actor, client=client, subject=user,
            added=sorted(g.name for g in groups - before), removed=sorted(g.name for g in before - groups),
        )  # fmt: skip


def set_permissions(
    actor: Actor, client: Client | None, user: User, permissions: Iterable[Permission]
) -> None:
    """An account's own permissions, as the admin's form gives them (each change recorded)."""
    check(actor, CHANGE_USER, user)
    permissions = set(permissions)
    before = set(user.user_permissions.select_related("content_type"))
    _check_handing_out(actor, user, permissions ^ before)
    if permissions == before:
        return
    with transaction.atomic():
        user.user_permissions.set(permissions)
        user.portal_access = None
        for event, changed in (
            (Event.PERMISSION_GRANTED, permissions - before),
            (Event.PERMISSION_REMOVED, before - permissions),
        ):
            for name in sorted(names_of(changed)):
                audit.record(event, actor=actor, client=client, subject=user, permission=name)


def _check_handing_out(actor: Actor, user: User, permissions: Iterable[Permission]) -> None:
    if audit.is_trusted(actor) or actor.is_superuser:
        return
    if user.pk == actor.pk:
        raise Refused(_("Nobody changes their own rights."))
    missing = names_of(Permission.objects.filter(pk__in=[p.pk for p in permissions])) - set(
        actor.get_all_permissions()
    )
    if missing:
        raise Refused(_("You cannot hand out rights that you do not have: %(rights)s.") % {
            "rights": ", ".join(sorted(missing))
        })  # fmt: skip


def may_change_group(actor: Actor, group: Group) -> bool:
    """Whether `actor` may change or delete `group`: it holds no permission the actor lacks."""
    if audit.is_trusted(actor) or actor.is_superuser:
        return True
    return names_of(group.permissions.select_related("content_type")) <= set(actor.get_all_permissions())


def change_group(
    actor: Actor,
    client: Client | None,
    group: Group,
    permissions: Iterable[Permission] | None = None,
    *,
    created: bool = False,
) -> Group:
    """A group as Django's group admin saves it (its name already set on `group`): anyone with
    change_group could otherwise give a group they belong to any permission. Nobody gives or takes a
    permission they do not hold, nor changes a group that holds one they lack."""
    check(actor, "auth.add_group" if created else CHANGE_GROUP)
    saved = Group.objects.filter(pk=group.pk).first() if group.pk else None
    current = set(saved.permissions.select_related("content_type")) if saved else set()
    wanted = current if permissions is None else set(permissions)
    if not audit.is_trusted(actor) and not actor.is_superuser:
        if not names_of(current | wanted) <= set(actor.get_all_permissions()):
            raise Refused(_("This group has, or would have, rights that you do not have."))
    with transaction.atomic():
        group.save()
        group.permissions.set(wanted)
        audit.record(
            Event.GROUP_CHANGED, actor=actor, client=client, group=group.name,
            renamed_from=saved.name if saved and saved.name != group.name else None, created=created or None,
            added=sorted(names_of(wanted - current)), removed=sorted(names_of(current - wanted)),
        )  # fmt: skip
    return group


def delete_group(actor: Actor, client: Client | None, group: Group) -> None:
    check(actor, "auth.delete_group")
    if not audit.is_trusted(actor) and not actor.is_superuser:
        if not names_of(group.permissions.select_related("content_type")) <= set(actor.get_all_permissions()):
            raise Refused(_("This group has rights that you do not have."))
    with transaction.atomic():
        audit.record(Event.GROUP_CHANGED, actor=actor, client=client, group=group.name, deleted=True)
        group.delete()


def accounts_decided_by(profile: AuthProfile) -> QuerySet[User]:
    """Every account whose sign-in `profile` (as it is on the instance, saved or not) may decide: its own
    accounts, those of its domains without a profile of their own, and for the default profile every
    account without one (more than it decides when other profiles claim domains: the rule errs safe)."""
    unassigned = Q(auth_profile__isnull=True)
    if profile.is_default:
        covered = unassigned
    else:
        domains = [Q(email__iendswith=f"@{domain}") for domain in profile.domain_list()]
        covered = unassigned & functools.reduce(operator.or_, domains, Q(pk__in=[]))
    if profile.pk:
        covered |= Q(auth_profile_id=profile.pk)
    return User.objects.filter(covered)


def may_change_profile(actor: Actor, profile: AuthProfile) -> bool:
    """A profile decides how its accounts sign in: changing it is acting on all of them. Only a superuser
    changes one that covers a superuser; anyone else only one whose accounts' permissions are all theirs."""
    if audit.is_trusted(actor) or actor.is_superuser:
        return True
    covered = accounts_decided_by(profile)
    if covered.filter(is_superuser=True).exists():
        return False
    held = Permission.objects.filter(Q(user__in=covered) | Q(group__user__in=covered)).values_list(
        "content_type__app_label", "codename"
    )
    return {f"{app}.{codename}" for app, codename in held} <= set(actor.get_all_permissions())


def _check_power_over_profile(actor: Actor, permission: str, *profiles: AuthProfile) -> None:
    check(actor, permission)
    for profile in profiles:
        if not may_change_profile(actor, profile):
            raise Refused(
                _(
                    "The profile %(profile)s decides how accounts with rights that you do not have sign "
                    "in: only an administrator with those rights can change it."
                )
                % {"profile": profile.name}
            )


def save_profile(actor: Actor, client: Client | None, profile: AuthProfile) -> AuthProfile:
    """An authentication profile added or changed (as the admin's form set it on `profile`): checked
    against its accounts before and after the change, saved and recorded with what changed."""
    saved = AuthProfile.objects.filter(pk=profile.pk).first() if profile.pk else None
    permission = "accounts.change_authprofile" if saved else "accounts.add_authprofile"
    _check_power_over_profile(actor, permission, *[p for p in (saved, profile) if p is not None])
    fields = [f.attname for f in AuthProfile._meta.concrete_fields if not f.primary_key]
    changes = {
        field: [str(getattr(saved, field)) if saved else None, str(getattr(profile, field))]
        for field in fields
        if saved is None or getattr(saved, field) != getattr(profile, field)
    }
    with transaction.atomic():
        profile.save()
        audit.record(
            Event.AUTH_PROFILE_CHANGED, actor=actor, client=client, profile=profile.name,
            created=saved is None or None, changes=changes or None,
        )  # fmt: skip
    return profile


def delete_profile(actor: Actor, client: Client | None, profile: AuthProfile) -> None:
    """A profile deleted: its accounts fall to their domain's profile or the default, so it is checked
    as a change of all of them, and recorded."""
    _check_power_over_profile(actor, "accounts.delete_authprofile", profile)
    with transaction.atomic():
        audit.record(
            Event.AUTH_PROFILE_CHANGED, actor=actor, client=client, profile=profile.name, deleted=True
        )
        profile.delete()


def add_alias(actor: Actor, client: Client | None, user: User, address: str) -> EmailAlias:
    """Another address of an account: claiming an address is acting on the account with the power rule,
    and nobody gives themselves one."""
    check(actor, CHANGE_USER, user)
    if not audit.is_trusted(actor) and user.pk == actor.pk:
        raise Refused(_("Nobody adds an address to their own account."))
    address = normalize_address(address)
    if User.objects.filter(email=address).exists() or EmailAlias.objects.filter(email=address).exists():
        raise Refused(_("This address already belongs to an account."))
    with transaction.atomic():
        alias = EmailAlias.objects.create(user=user, email=address)
        audit.record(Event.ALIAS_ADDED, actor=actor, client=client, subject=user, alias=address)
    return alias


def remove_alias(actor: Actor, client: Client | None, alias: EmailAlias) -> None:
    user = alias.user
    check(actor, CHANGE_USER, user)
    with transaction.atomic():
        audit.record(Event.ALIAS_REMOVED, actor=actor, client=client, subject=user, alias=alias.email)
        alias.delete()


# -- The portal's own changes ------------------------------------------------------------------------


def sync_directory_groups(user: User, group: Group, member: bool) -> None:
    """A directory login mirrors the portal group of LDAP_PORTAL_GROUP (the system is the actor)."""
    already = user.groups.filter(pk=group.pk).exists()
    if already == member:
        return
    with transaction.atomic():
        (user.groups.add if member else user.groups.remove)(group)
        user.portal_access = None
        audit.record(
            Event.DIRECTORY_GROUPS_SYNCED, actor=audit.SYSTEM, subject=user,
            added=[group.name] if member else [], removed=[] if member else [group.name],
        )  # fmt: skip


def directory_group(name: str) -> Group:
    """The group that mirrors the directory's portal group (made, with the portal permission, once)."""
    with transaction.atomic():
        group, created = Group.objects.get_or_create(name=name)
        if created:
            group.permissions.add(portal_permission())
            audit.record(
                Event.GROUP_CHANGED, actor=audit.SYSTEM, group=name, created=True,
                added=[PORTAL_PERMISSION],
            )  # fmt: skip
    return group


def update_from_directory(user: User, email: str, kind: str) -> None:
    """The directory is the truth for staff: their primary address and kind follow it."""
    changes = {
        name: value for name, value in (("email", email), ("kind", kind)) if getattr(user, name) != value
    }
    if changes:
        change_account(audit.SYSTEM, None, user, changes)


# -- A person's own changes (the Security page, the forced change) -----------------------------------


@account_action(SELF, gettext_lazy("Change your password"), Event.PASSWORD_CHANGED)
def change_own_password(
    actor: Actor, user: User, password: str, *, keep_session: str | None = None
) -> Details:
    """The person chose their own password: nothing temporary or forced is left, and every other
    session of theirs ends (`keep_session`: the key of the one they are using)."""
    forced = user.must_change_password
    passwords.finish_password_change(user, password)
    ended = sessions.end_all(user, except_key=keep_session)
    return {"by": "self", "forced": forced or None, "sessions_ended": ended or None}


@account_action(SELF, gettext_lazy("Set up two-step"), Event.TWO_STEP_ENROLLED)
def enrol_two_step(actor: Actor, user: User, device: Any, code: str) -> Details:
    """Confirm a new authenticator app with a code from it; the person's other apps stop working.
    Returns nothing and records nothing when the code is wrong (see `twostep.confirm_enrolment`)."""
    if not twostep.confirm_enrolment(device, code):
        raise WrongCode
    return {"device": device.name}


class WrongCode(Refused):
    """The code did not confirm the new device: nothing changed."""


def try_enrol_two_step(actor: Actor, client: Client | None, user: User, device: Any, code: str) -> bool:
    """True when the code confirmed the device (and the enrolment is recorded)."""
    try:
        enrol_two_step(actor, client, user, device, code)
    except WrongCode:
        return False
    return True


def set_up_two_step(
    user: User, client: Client | None, device: Any, code: str, *, keep_backup_codes: bool = False
) -> tuple[bool, list[str]]:
    """One enrolment, on the login's step or on the Security page: the first right code from the new app
    confirms it (the old app stops working) and brings ten new backup codes, unless the person asked
    to keep theirs and has some left. Returns (confirmed, the codes to show once or [])."""
    if not try_enrol_two_step(user, client, user, device, code):
        return False, []
    if keep_backup_codes and twostep.backup_codes_left(user):
        return True, []
    return True, renew_backup_codes(user, client, user)


def renew_backup_codes(actor: Actor, client: Client | None, user: User) -> list[str]:
    """New backup codes; the old ones stop working. Returns the codes, shown once."""
    check(actor, SELF, user)
    with transaction.atomic():
        codes = twostep.new_backup_codes(user)
        audit.record(Event.BACKUP_CODES_RENEWED, actor=actor, client=client, subject=user)
    return codes


def add_passkey(actor: Actor, client: Client | None, user: User, **fields: Any) -> Passkey:
    """A passkey the person's device made (verified by accounts.methods.passkey)."""
    check(actor, SELF, user)
    with transaction.atomic():
        passkey = Passkey.objects.create(user=user, **fields)
        audit.record(Event.PASSKEY_ADDED, actor=actor, client=client, subject=user, passkey=passkey.name)
    return passkey


def remove_own_passkey(actor: Actor, client: Client | None, user: User, passkey_id: int) -> bool:
    """One of the person's own passkeys; False when there is no such passkey of theirs."""
    check(actor, SELF, user)
    with transaction.atomic():
        passkey = Passkey.objects.filter(user=user, pk=passkey_id).first()
        if passkey is None:
            return False
        passkey.delete()
        audit.record(Event.PASSKEY_REMOVED, actor=actor, client=client, subject=user, passkey=passkey.name)
    return True


def link_provider_identity(user: User, issuer: str, subject: str) -> bool:
    """Link the account to its subject at the provider, at its first sign-in there (the provider's word,
    so the system's doing). False when another sign-in linked something meanwhile: the caller checks again."""
    try:
        with transaction.atomic():
            ProviderIdentity.objects.create(user=user, issuer=issuer, subject=subject)
            audit.record(
                Event.IDENTITY_LINKED,
                actor=audit.SYSTEM,
                subject=user,
                issuer=issuer,
                provider_subject=subject,
            )
    except IntegrityError:
        return False
    return True


def end_other_sessions(actor: Actor, client: Client | None, user: User, keep_session: str | None) -> int:
    """'Log out everywhere else': every session of the person but the one they are using."""
    check(actor, SELF, user)
    with transaction.atomic():
        ended = sessions.end_all(user, except_key=keep_session)
        audit.record(
            Event.SESSION_ENDED,
            actor=actor,
            client=client,
            subject=user,
            count=ended,
            scope=SessionsEnded.OTHERS,
        )
    return ended


def end_session(
    actor: Actor,
    client: Client | None,
    user: User,
    session_key: str,
    *,
    reason: SessionsEnded = SessionsEnded.LOGOUT,
) -> bool:
    """One session ends (a logout, or the person ends one of theirs from the Security page)."""
    if actor is not None and not audit.is_trusted(actor):
        check(actor, SELF, user)
    with transaction.atomic():
        ended = sessions.end(user, session_key)
        if ended:
            audit.record(Event.SESSION_ENDED, actor=actor or user, client=client, subject=user, scope=reason)
    return ended


def end_sessions_at_provider(client: Client | None, method: str, subject: str, address: str = "") -> int:
    """The identity provider ended the person's session there (single logout): every session here that
    it signed in, and every session of the account of the address it names, end too. By the portal, for
    the provider (`method`); returns how many people were logged out."""
    people = set(sessions.people_of_subject(subject))
    owner = User.objects.find_by_address(address)[0] if "@" in address else None
    if owner is not None:
        people.add(owner)
    with transaction.atomic():
        for user in people:
            ended = sessions.end_all(user)
            audit.record(
                Event.SESSION_ENDED,
                actor=audit.SYSTEM,
                client=client,
                subject=user,
                count=ended,
                scope=SessionsEnded.SINGLE_LOGOUT,
                by=method,
            )
    return len(people)


def _logged_out(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    """Every logout (the person's, or the portal's when their rights went) ends the session in the trail;
    one that goes on to end the session at the identity provider says so."""
    key = getattr(request, "session", None) and request.session.session_key
    if user is None or not key:
        return
    provider = (request.session.get(sessions.SINGLE_LOGOUT) or {}).get("method")
    details = {"scope": SessionsEnded.LOGOUT, **({"provider": provider} if provider else {})}
    with transaction.atomic():
        sessions.forget(user, key)
        audit.record(Event.SESSION_ENDED, actor=user, client=Client.of(request), subject=user, **details)


user_logged_out.connect(_logged_out, dispatch_uid="accounts_actions_logged_out")
