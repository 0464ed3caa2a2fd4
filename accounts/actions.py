"""Every change to someone's account: checked, done and recorded in one transaction.

The admin's actions, the login doctor's fixes and any command call these functions and nothing
else to change another person's rights, password, two-step or lockout. Each one checks that the
actor holds the permission it needs and has at least the power of the account it touches (only a
superuser changes a superuser; anyone else only an account whose permissions are all theirs too),
then writes Django's admin history (`LogEntry`) in the same transaction, so that the doctor's
history shows what was done, by whom and from where.
"""

import logging

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import passwords, throttle, twostep
from .models import Throttle, User, portal_permission

log = logging.getLogger("portal.actions")

CHANGE_USER = "accounts.change_user"
CHANGE_LOCKOUT = "accounts.change_throttle"


class Refused(PermissionDenied):
    """The actor may not do this (to this account): nothing was changed, nothing recorded as done."""


def permissions_of(user):
    """Every permission an account holds, directly or through its groups, as 'app.codename', whether
    or not the account is active (a deactivated administrator keeps their power for this rule)."""
    held = Permission.objects.filter(Q(user=user) | Q(group__user=user)).values_list(
        "content_type__app_label", "codename"
    )
    return {f"{app}.{codename}" for app, codename in held}


def has_power_over(actor, target):
    """Only a superuser acts on a superuser; anyone else only on an account whose every permission
    they hold too."""
    if target.is_superuser:
        return actor.is_superuser
    if actor.is_superuser:
        return True
    return permissions_of(target) <= actor.get_all_permissions()


def check(actor, permission, target=None):
    """Raise Refused unless `actor` may use `permission` on `target` (an account, or None)."""
    if actor is None or not actor.is_active or not actor.has_perm(permission):
        raise Refused(_("You do not have the permission to do this."))
    if target is not None and not has_power_over(actor, target):
        raise Refused(
            _(
                "The account %(account)s has rights that you do not have: only an administrator with "
                "those rights can change it."
            )
            % {"account": target.email}
        )


def _record(actor, client, objects, what):
    """The admin-history row of each object, in English whatever the actor's language."""
    with translation.override("en"):
        message = f"{what}" + (f" (from {client.ip})" if client.ip else "")
    LogEntry.objects.log_actions(
        user_id=actor.pk, queryset=objects, action_flag=CHANGE, change_message=message
    )
    log.info("event=account_action action=%s actor=%s objects=%d", what, actor.pk, len(objects))


def _account_action(permission, label):
    """Wrap a change of one account: check, change and record it, or neither."""

    def decorate(change):
        def action(actor, client, user, *args, **kwargs):
            check(actor, permission, user)
            with transaction.atomic():
                result = change(actor, user, *args, **kwargs)
                _record(actor, client, [user], str(label))
            return result

        action.__name__, action.__doc__ = change.__name__, change.__doc__
        action.label = label
        return action

    return decorate


@_account_action(CHANGE_USER, gettext_lazy("Grant the portal permission"))
def grant_portal_access(actor, user):
    """Give the portal permission directly."""
    user.user_permissions.add(portal_permission())


@_account_action(CHANGE_USER, gettext_lazy("Remove the portal permission (given directly)"))
def remove_portal_access(actor, user):
    """Take back a directly given portal permission (a group's stays: change the group)."""
    user.user_permissions.remove(portal_permission())


@_account_action(CHANGE_USER, gettext_lazy("Send a temporary password"))
def send_temporary_password(actor, user):
    """Queue a temporary password; the notification worker issues and sends it."""
    passwords.queue_temporary_password(user, requested_by=actor.email)


@_account_action(CHANGE_USER, gettext_lazy("Set a password, to be changed at next login"))
def set_password_to_change(actor, user, password):
    """A password the administrator chose; the person must replace it at the next login."""
    passwords.set_password_to_change(user, password)


@_account_action(CHANGE_USER, gettext_lazy("Reset two-step"))
def reset_two_step(actor, user):
    """Remove the authenticator apps and backup codes: the person sets up again at the next login."""
    twostep.reset(user)


@_account_action(CHANGE_USER, gettext_lazy("Remove the passkeys"))
def remove_passkeys(actor, user):
    """After a lost device: the person signs in with their password and adds a new passkey."""
    user.passkeys.all().delete()


@_account_action(CHANGE_USER, gettext_lazy("Reactivate the account"))
def reactivate(actor, user):
    User.objects.filter(pk=user.pk).update(is_active=True)
    user.is_active = True


@_account_action(CHANGE_USER, gettext_lazy("Deactivate the account"))
def deactivate(actor, user):
    """The account can no longer sign in; its sessions end at their next request."""
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False


def lift_lockouts(actor, client, rows):
    """Lift lockouts early. A lockout of an account's address counts as acting on that account."""
    check(actor, CHANGE_LOCKOUT)
    rows, owners = list(rows), []
    for row in rows:
        if row.scope == Throttle.Scope.ADDRESS:
            owner, _alias = User.objects.find_by_address(row.key)
            if owner is not None:
                check(actor, CHANGE_LOCKOUT, owner)
                owners.append(owner)
    with transaction.atomic():
        for row in rows:
            throttle.lift(row, by=actor.email)
        _record(actor, client, rows + owners, str(lift_lockouts.label))


lift_lockouts.label = gettext_lazy("Lift the lockout")
