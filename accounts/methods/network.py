"""Network passwords: search-then-bind against the company directory, through django-auth-ldap.

The portal never stores these passwords. The first successful bind creates or updates the
internal user; membership of LDAP_PORTAL_GROUP grants the portal permission.
"""

import secrets
import time

import ldap
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_auth_ldap.backend import LDAPBackend, ldap_error
from django_auth_ldap.config import GroupOfNamesType, LDAPSearch, LDAPSettings

from portal import audit

from .. import actions
from ..models import MethodKey, PasswordHelpRequest, User, normalize_address
from ..troubleshooting import Check, Reason
from . import register
from .base import SignInMethod, Verdict

DIRECTORY_GROUP = "Directory: portal users"


def enabled():
    return bool(settings.LDAP_SERVER_URI)


def _connection_options():
    timeout = settings.LDAP_TIMEOUT
    options = {
        ldap.OPT_NETWORK_TIMEOUT: timeout,
        ldap.OPT_TIMEOUT: timeout,
        ldap.OPT_REFERRALS: 0,
    }
    if settings.LDAP_CA_FILE:
        options[ldap.OPT_X_TLS_CACERTFILE] = settings.LDAP_CA_FILE
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        options[ldap.OPT_X_TLS_NEWCTX] = 0  # last: applies the TLS options above
    return options


def directory_settings():
    """django-auth-ldap's settings, from the portal's LDAP_* settings (read on every use)."""
    user_base = settings.LDAP_USER_BASE
    return {
        "SERVER_URI": settings.LDAP_SERVER_URI,
        "BIND_DN": settings.LDAP_BIND_DN,
        "BIND_PASSWORD": settings.LDAP_BIND_PASSWORD,
        "USER_SEARCH": LDAPSearch(user_base, ldap.SCOPE_SUBTREE, settings.LDAP_USER_FILTER),
        "GROUP_SEARCH": LDAPSearch(
            settings.LDAP_GROUP_BASE or user_base, ldap.SCOPE_SUBTREE, "(objectClass=groupOfNames)"
        ),
        "GROUP_TYPE": GroupOfNamesType(),
        "START_TLS": settings.LDAP_START_TLS,
        "CONNECTION_OPTIONS": _connection_options(),
        "USER_ATTRLIST": [settings.LDAP_MAIL_ATTR, settings.LDAP_NAME_ATTR],
        "USER_ATTR_MAP": {"name": settings.LDAP_NAME_ATTR},
        "ALWAYS_UPDATE_USER": True,
        "PERMIT_EMPTY_PASSWORD": False,
        "CACHE_TIMEOUT": 0,
    }


def _bind_in_vain(connection, password):
    """Nobody has the address: bind anyway, as nobody, so that the answer takes as long as for a
    wrong password (one search and one bind either way): the time does not tell who is there."""
    nobody = f"cn=nobody-{secrets.token_hex(8)},{settings.LDAP_USER_BASE}"
    try:
        connection.simple_bind_s(nobody, password)
    except ldap.INVALID_CREDENTIALS:
        pass


def _first(attrs, name):
    values = attrs.get(name) or attrs.get(name.lower()) or []
    return values[0] if values else ""


class NetworkPasswordBackend(LDAPBackend):
    """django-auth-ldap, configured from LDAP_*, mapping directory entries to the portal's users."""

    def __init__(self):
        super().__init__()
        self.outcome, self.group_dns, self.attrs = "", set(), {}
        self.errors = []  # what the directory raised during this attempt (see verify)

    @property
    def settings(self):
        if self._settings is None:
            self._settings = LDAPSettings(prefix="PORTAL_UNUSED_LDAP_", defaults=directory_settings())
        return self._settings

    def authenticate_ldap_user(self, ldap_user, password):
        if ldap_user.dn is None:  # searched with the service account
            self.outcome = "directory_user_not_found"
            if not self.errors:  # the search did answer: nobody has the address
                _bind_in_vain(ldap_user.connection, password)
            return None
        user = ldap_user.authenticate(password)
        self.outcome = "" if user is not None else "bad_password"
        if user is not None:
            self.group_dns = {dn.lower() for dn in ldap_user.group_dns}
            self.attrs = ldap_user.attrs
        return user

    def get_or_build_user(self, username, ldap_user):
        """The user of the directory's mail address (or of the address typed); else a new one."""
        address = normalize_address(_first(ldap_user.attrs, settings.LDAP_MAIL_ATTR) or username)
        user, _alias = User.objects.find_by_address(address)
        if user is None:
            user, _alias = User.objects.find_by_address(username)
        if (
            user is None
        ):  # first sign-in: the account is made (recorded); the directory's group decides the rest
            return actions.create_account(audit.SYSTEM, None, address, kind=User.Kind.INTERNAL), False
        return user, False

    def ldap_to_django_username(self, username):
        return normalize_address(username)


def _sync_portal_group(user, group_dns):
    """Membership of LDAP_PORTAL_GROUP is mirrored into a group that has the portal permission (an
    account action of the system: checked and recorded as any other)."""
    if not settings.LDAP_PORTAL_GROUP:
        return
    group = actions.directory_group(DIRECTORY_GROUP)
    actions.sync_directory_groups(user, group, settings.LDAP_PORTAL_GROUP.lower() in group_dns)
    user.portal_access = None  # looked up with the account, before this: asked again when needed


def _update_user(user, attrs):
    """The directory is the truth for staff: their primary address and kind follow it."""
    mail = normalize_address(_first(attrs, settings.LDAP_MAIL_ATTR))
    if not mail or mail == user.email or User.objects.filter(email=mail).exists():
        mail = user.email
    actions.update_from_directory(user, mail, User.Kind.INTERNAL)


def verify(address, user, password):
    """Bind as the person found by the address; the verdict says why not, outages included."""
    if not enabled():
        return Verdict(user=user, reason=Reason.METHOD_NOT_ALLOWED, detail="network passwords are off")
    if not password:
        # A simple bind with an empty password is an unauthenticated bind some servers accept.
        return Verdict(user=user, reason=Reason.BAD_PASSWORD, detail="empty password refused before any bind")
    marker = object()
    backend = NetworkPasswordBackend()
    errors = backend.errors

    def on_error(sender, context, user, request, exception, **kwargs):
        if request is marker:
            errors.append(exception)

    ldap_error.connect(on_error, dispatch_uid=f"verify-{id(marker)}")
    try:
        found = backend.authenticate(marker, username=address, password=password)
    except ldap.LDAPError as error:  # raised outside django-auth-ldap's own error handling
        errors.append(error)
        found = None
    finally:
        ldap_error.disconnect(dispatch_uid=f"verify-{id(marker)}")
    if found is not None and not errors:
        with transaction.atomic():  # no database lock is held while the directory answers
            _update_user(found, backend.attrs)
            _sync_portal_group(found, backend.group_dns)
    if errors:
        return Verdict(
            user=user, reason=Reason.DIRECTORY_UNAVAILABLE, detail=_describe(errors[0]), outage=True
        )
    if found is None:
        return Verdict(user=user, reason=backend.outcome or "bad_password")
    if not found.is_active:
        return Verdict(user=found, reason=Reason.INACTIVE)
    return Verdict(user=found)


def _describe(error):
    info = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    return f"{type(error).__name__}: {info.get('desc', '')} {info.get('info', '')}".strip()


def _in_portal_group(connection, dn):
    """Whether the entry is a member of LDAP_PORTAL_GROUP (None when no such group is set)."""
    if not settings.LDAP_PORTAL_GROUP:
        return None
    try:
        return bool(connection.compare_s(settings.LDAP_PORTAL_GROUP, "member", dn.encode()))
    except ldap.NO_SUCH_OBJECT:
        return False


def diagnose(address=""):
    """What `check_directory` and the admin page show: reachable, service bind, timing, the entry."""
    report = {"server": settings.LDAP_SERVER_URI or "(not configured)", "enabled": enabled()}
    if not enabled():
        return report
    start = time.perf_counter()
    try:
        connection = ldap.initialize(settings.LDAP_SERVER_URI, bytes_mode=False)
        for option, value in _connection_options().items():
            connection.set_option(option, value)
        if settings.LDAP_START_TLS:
            connection.start_tls_s()
        connection.simple_bind_s(settings.LDAP_BIND_DN, settings.LDAP_BIND_PASSWORD)
        report.update(reachable=True, service_bind=True)
        if address:
            search = directory_settings()["USER_SEARCH"]
            results = search.execute(connection, {"user": normalize_address(address)}) or []
            report["entries"] = [
                {
                    "dn": dn,
                    "attributes": {k: [str(v) for v in vs] for k, vs in attrs.items()},
                    "in_portal_group": _in_portal_group(connection, dn),
                }
                for dn, attrs in results
            ]
        connection.unbind_s()
    except ldap.INVALID_CREDENTIALS:
        report.update(reachable=True, service_bind=False, error="the service account's bind was refused")
    except ldap.LDAPError as error:
        report.update(reachable=False, service_bind=False, error=_describe(error))
    report["milliseconds"] = round((time.perf_counter() - start) * 1000, 1)
    return report


class NetworkPassword(SignInMethod):
    """The company directory's password (LDAP): the portal binds as the person and keeps nothing."""

    key = MethodKey.NETWORK
    service_label = gettext_lazy("Network passwords")
    takes_password = True
    creates_accounts = True

    def enabled(self):
        return enabled()

    def verify(self, address, user, password):
        return verify(address, user, password)

    def password_help(self, user):
        return PasswordHelpRequest.Outcome.NETWORK_PASSWORD

    def still_in_directory(self, address):
        return still_in_directory(address)

    def doctor_check(self, d):
        label = _("Company directory")
        if not enabled():
            text = _("Network passwords are off on this server (LDAP_SERVER_URI).")
            return Check(label, text, Reason.METHOD_NOT_ALLOWED)
        report = diagnose(d.address)
        if not report.get("reachable") or not report.get("service_bind"):
            text = _("Cannot be reached: %(error)s") % {"error": report.get("error", "")}
            return Check(label, text, Reason.DIRECTORY_UNAVAILABLE)
        entries = report.get("entries") or []
        if not entries:
            return Check(label, _("Reachable; no entry has this address."), Reason.DIRECTORY_USER_NOT_FOUND)
        entry = entries[0]
        text = _("Reachable (%(ms)s ms); entry %(dn)s.") % {"ms": report["milliseconds"], "dn": entry["dn"]}
        if entry["in_portal_group"] is not None:
            text += " " + (
                _("A member of the portal group.")
                if entry["in_portal_group"]
                else _("Not a member of the portal group: the permission it gives is removed at login.")
            )
        d.working_methods.append(self.key)
        return Check(label, text)


register(NetworkPassword())


def still_in_directory(address):
    """Whether the directory still holds an entry for the address (a search as the service account, no
    bind as the person): True, False, or None when the directory cannot be asked."""
    report = diagnose(address)
    if not report.get("service_bind"):
        return None
    return bool(report.get("entries"))
