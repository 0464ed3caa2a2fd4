"""Cloud passwords: kept by the portal as Argon2id hashes, with temporary passwords beside them."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import actions, passwords
from ..models import MethodKey, PasswordHelpRequest, User
from ..troubleshooting import Check, FixKey, Reason
from . import register
from .base import SignInMethod, Verdict

BACKEND = "accounts.methods.cloud.CloudPasswordBackend"


class CloudPasswordBackend(ModelBackend):
    """Django's model backend: sessions and permissions for every user of the portal.

    The login flow calls `verify()` instead of `authenticate()` so that it learns *why* a
    password was refused; `authenticate()` stays for Django's own uses. A signed-in user is loaded
    with the portal permission in the same query: every page checks it.
    """

    def get_user(self, user_id):
        user = User.objects.signed_in(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


def _spend_one_hash(password):
    """Unknown addresses cost the same Argon2 work as known ones: no timing difference."""
    make_password(password)


def verify(address, user, password):
    """Check a cloud password (or a pending temporary one) for the user found by the address.

    Every guess costs exactly one Argon2 computation and one keyed hash, whatever the account's state
    (none, a password, a temporary one pending, both, neither): the time tells nobody which it is.
    """
    if user is not None and user.has_usable_password():
        password_ok = passwords.check(user, password)
    else:
        _spend_one_hash(password)
        password_ok = False
    temporary_ok = passwords.temporary_password_matches(user, password)
    if user is None:
        return Verdict(reason=Reason.UNKNOWN_USER)
    if password_ok:
        if user.must_change_password and passwords.temporary_password_expired(user):
            return Verdict(user=user, reason=Reason.TEMPORARY_PASSWORD_EXPIRED, detail="used, not changed")
        return _active(user)
    if temporary_ok:
        if passwords.temporary_password_expired(user):
            return Verdict(user=user, reason=Reason.TEMPORARY_PASSWORD_EXPIRED)
        if not user.is_active:
            return Verdict(user=user, reason=Reason.INACTIVE)
        actions.start_using_temporary_password(user, None, user, password)
        return Verdict(user=user, detail="temporary password")
    if not user.has_usable_password():
        return Verdict(user=user, reason=Reason.NO_CLOUD_PASSWORD)
    return Verdict(user=user, reason=Reason.BAD_PASSWORD)


def _active(user):
    return Verdict(user=user) if user.is_active else Verdict(user=user, reason=Reason.INACTIVE)


class CloudPassword(SignInMethod):
    """A password the portal keeps (Argon2id), with temporary ones for first logins and forgotten ones."""

    key = MethodKey.CLOUD
    service_label = gettext_lazy("Cloud passwords")
    takes_password = True

    def verify(self, address, user, password):
        return verify(address, user, password)

    def password_help(self, user):
        if (
            user.has_usable_password()
            or user.temporary_password
            or user.profile().allow_self_service_password
        ):
            return PasswordHelpRequest.Outcome.TEMPORARY_PASSWORD
        return PasswordHelpRequest.Outcome.ASK_ADMINISTRATOR

    def doctor_check(self, d):
        """Whether a cloud password works now: set, temporary pending, temporary expired, or none."""
        user, label = d.user, _("Cloud password")
        if user is None:
            return None
        if user.temporary_password:
            until = date_format(timezone.localtime(user.temporary_password_expires_at), "DATETIME_FORMAT")
            if passwords.temporary_password_expired(user):
                text = _("A temporary password was sent, but it expired on %(at)s unused.") % {"at": until}
                return Check(label, text, Reason.TEMPORARY_PASSWORD_EXPIRED, FixKey.SEND_TEMPORARY_PASSWORD)
            d.working_methods.append(self.key)
            return Check(label, _("A temporary password is pending, valid until %(at)s.") % {"at": until})
        if user.has_usable_password():
            if user.must_change_password and passwords.temporary_password_expired(user):
                text = _("A temporary password was used but not changed in time: it has expired.")
                return Check(label, text, Reason.TEMPORARY_PASSWORD_EXPIRED, FixKey.SEND_TEMPORARY_PASSWORD)
            d.working_methods.append(self.key)
            if user.must_change_password:
                return Check(label, _("Set; it must be changed at the next login."))
            return Check(label, _("Set."))
        text = _("None: the account has no cloud password.")
        return Check(label, text, Reason.NO_CLOUD_PASSWORD, FixKey.SEND_TEMPORARY_PASSWORD)


register(CloudPassword())
