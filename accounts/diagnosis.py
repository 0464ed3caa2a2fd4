"""The login doctor: everything that decides whether an address can log in, in plain words, and the fixes.

`diagnose(address)` reads the account, its profile, its passwords, the portal permission, the
directory, single sign-on, two-step, the guessing limits and the last attempts, and ends with a
verdict. `apply_fix()` carries out one of the one-click fixes an administrator presses next to a
problem; each is recorded in the audit trail.
"""

from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.models import AuditEvent

from . import actions, methods, twostep
from .models import (
    PORTAL_PERMISSION,
    AuthProfile,
    LoginAttempt,
    Throttle,
    User,
    normalize_address,
    portal_permission,
)
from .troubleshooting import Check, FixKey, Reason, reason_help


@dataclass
class Diagnosis:
    address: str
    user: User = None
    via_alias: bool = False
    profile: AuthProfile = None
    checks: list = field(default_factory=list)
    working_methods: list = field(default_factory=list)
    attempts: list = field(default_factory=list)
    history: list = field(default_factory=list)

    @property
    def blockers(self):
        return [c for c in self.checks if c.blocks and not c.ok]

    @property
    def can_log_in(self):
        return not self.blockers and bool(self.working_methods)

    @property
    def verdict(self):
        """'Can log in with: …' or 'Cannot log in because: …', in plain words."""
        if self.can_log_in:
            labels = ", ".join(str(methods.get(m).label) for m in self.working_methods)
            if self.user is not None and self.user.is_external:
                return _("Can log in with: %(methods)s, through the link of a message sent to them.") % {
                    "methods": labels
                }
            return _("Can log in with: %(methods)s.") % {"methods": labels}
        # Blockers stop every method; without one, no method of the profile works, for its own reasons.
        problems = self.blockers or [c for c in self.checks if not c.ok]
        reasons = [str(c.help.explanation) for c in problems]
        reasons = reasons or [_("No sign-in method of the profile works.")]
        return _("Cannot log in because: %(reasons)s") % {"reasons": " ".join(reasons)}

    @property
    def last_failure(self):
        """The latest attempt, if it failed: what the person saw last."""
        latest = self.attempts[0] if self.attempts else None
        return latest if latest and latest.outcome == LoginAttempt.Outcome.FAILURE else None

    @property
    def last_failure_help(self):
        return reason_help(self.last_failure.reason) if self.last_failure else None


def _profile_reason(user, profile, address):
    if user is not None and user.auth_profile_id:
        return _("the user's own profile")
    if profile.names_domain_of(address):
        return _("the profile of the domain %(domain)s") % {"domain": address.rpartition("@")[2]}
    if profile.pk:
        return _("the default profile (no profile names this domain)")
    return _("the built-in default (no profile is marked default): cloud passwords")


def _account_checks(d):
    if d.user is None:
        # Without an account, the directory or the IdP may still make one at the first login.
        creates = [key for key in d.profile.method_list() if methods.get(key).creates_accounts]
        text = _("No account has this address, as a primary address or as an alias.")
        if creates:
            text += " " + _("A first login through the directory or single sign-on creates it.")
        return [Check(_("Account"), text, reason=Reason.UNKNOWN_USER, blocks=not creates)]
    user = d.user
    kind = user.get_kind_display()
    text = f"{user.email} ({kind}, {user.get_full_name()})"
    if d.via_alias:
        text = _("%(address)s is an alias of %(account)s") % {"address": d.address, "account": text}
    checks = [Check(_("Account"), text)]
    if not user.is_active:
        text = _("No: the account is deactivated.")
        checks.append(Check(_("Active"), text, Reason.INACTIVE, FixKey.REACTIVATE, blocks=True))
    else:
        checks.append(Check(_("Active"), _("Yes")))
    return checks


def _profile_check(d):
    labels = ", ".join(str(methods.get(m).label) for m in d.profile.method_list())
    text = _("%(name)s, because it is %(why)s. Methods: %(methods)s.") % {
        "name": d.profile.name,
        "why": _profile_reason(d.user, d.profile, d.address),
        "methods": labels,
    }
    return Check(_("Authentication profile"), text)


def _permission_check(d):
    user, label = d.user, _("Portal permission")
    if user is None:
        return None
    if user.is_external:
        return Check(
            label,
            _("Not needed: external recipients log in only through the link of a message sent to them."),
        )
    if user.is_superuser:
        return Check(label, _("Yes (superuser)."))
    if user.has_perm(PORTAL_PERMISSION):
        groups = [g.name for g in user.groups.filter(permissions=portal_permission())]
        if groups:
            return Check(label, _("Yes, through the group %(groups)s.") % {"groups": ", ".join(groups)})
        return Check(label, _("Yes, given directly."))
    return Check(label, _("No."), Reason.NO_PERMISSION, FixKey.GRANT_PERMISSION, True)


def _two_step_check(d):
    user, label = d.user, _("Two-step")
    required = d.profile.require_two_step
    if user is None:
        return Check(label, _("Required by the profile.") if required else _("Not required."))
    enrolled = twostep.is_enrolled(user)
    if enrolled:
        left = twostep.backup_codes_left(user)
        text = _("Set up (an authenticator app, %(left)s backup codes left).") % {"left": left}
        text = (_("Required; ") if required else _("Not required; ")) + text
        return Check(label, text, fix=FixKey.RESET_TWO_STEP)
    if required:
        return Check(label, _("Required; not set up yet: the person sets up an app at the next login."))
    return Check(label, _("Not required; not set up."))


def _locks(d):
    """The lockout rows that stop this address now: its own, and the client of its last failure."""
    keys = Q(scope=Throttle.Scope.ADDRESS, key=d.user.email if d.user else d.address)
    if d.last_failure and d.last_failure.ip:
        keys |= Q(scope=Throttle.Scope.CLIENT, key=d.last_failure.ip)
    return [row for row in Throttle.objects.filter(keys) if row.is_locked]


def _lockout_check(d):
    label = _("Lockout")
    locks = _locks(d)
    if not locks:
        return Check(label, _("Not locked."))
    until = max(row.locked_until for row in locks)
    what = ", ".join(f"{row.get_scope_display()} {row.key}" for row in locks)
    text = _("Locked until %(at)s (%(what)s).") % {
        "at": date_format(timezone.localtime(until), "DATETIME_FORMAT"),
        "what": what,
    }
    return Check(label, text, Reason.LOCKED_OUT, FixKey.LIFT_LOCKOUT, True)


def _history(d):
    """What was done to this account (or its address's lockout), from the audit trail, newest first;
    the login attempts are listed on their own."""
    mine = Q(subject_name=d.address) | Q(details__key=d.address)
    if d.user is not None:
        mine |= Q(subject=d.user)
    return list(AuditEvent.objects.filter(mine).exclude(event__startswith="login.")[:10])


def diagnose(address):
    """The doctor's report for an address (a primary address, an alias, or nobody's)."""
    address = normalize_address(address)
    user, via_alias = User.objects.find_by_address(address)
    profile = user.profile() if user else AuthProfile.objects.for_address(address)
    d = Diagnosis(address=address, user=user, via_alias=via_alias, profile=profile)
    mine = Q(email_entered=address) | Q(user=user) if user else Q(email_entered=address)
    d.attempts = list(LoginAttempt.objects.filter(mine).order_by("-at", "-pk")[:10])
    d.checks = _account_checks(d) + [_profile_check(d)]
    for key in profile.method_list():
        d.checks.append(methods.get(key).doctor_check(d))
    d.checks += [_permission_check(d), _two_step_check(d), _lockout_check(d)]
    d.checks = [c for c in d.checks if c is not None]
    d.history = _history(d)
    return d


@dataclass(frozen=True)
class Fix:
    """A fix the doctor offers: the account action that carries it out, and what it says when done."""

    action: object
    done: str

    @property
    def label(self):
        return self.action.label

    @property
    def permission(self):
        return self.action.permission


FIXES = {
    FixKey.LIFT_LOCKOUT: Fix(actions.lift_lockouts, gettext_lazy("The lockout is lifted.")),
    FixKey.GRANT_PERMISSION: Fix(
        actions.grant_portal_access, gettext_lazy("The portal permission is granted.")
    ),
    FixKey.SEND_TEMPORARY_PASSWORD: Fix(
        actions.send_temporary_password, gettext_lazy("A temporary password is on its way to %(address)s.")
    ),
    FixKey.RESET_TWO_STEP: Fix(
        actions.reset_two_step,
        gettext_lazy("Two-step is reset: the person sets up an app at the next login."),
    ),
    FixKey.REACTIVATE: Fix(actions.reactivate, gettext_lazy("The account is active again.")),
    FixKey.FORGET_PROVIDER_LINK: Fix(
        actions.forget_provider_identities,
        gettext_lazy("The link is forgotten: the next sign-in through the provider links its account."),
    ),
}


class FixRefused(Exception):
    """The fix is unknown, not permitted to this administrator, or has nothing to act on."""


def apply_fix(name, address, administrator, client):
    """Carry out one fix for an address, as `administrator`, through `accounts.actions` (which raises
    `actions.Refused` when it may not); returns what was done, in words."""
    fix = FIXES.get(name)
    if fix is None:
        raise FixRefused(name)
    actions.check(administrator, fix.permission)  # before anything is read about the address
    d = diagnose(address)
    if fix.action is actions.lift_lockouts:
        locks = _locks(d)
        if not locks:
            raise FixRefused(name)
        actions.lift_lockouts(administrator, client, locks)
    elif d.user is None:
        raise FixRefused(name)
    else:
        fix.action(administrator, client, d.user)
    return str(fix.done) % {"address": d.user.email if d.user else address}
