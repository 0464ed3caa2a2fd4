"""Cloud passwords: kept by the portal as Argon2id hashes, with temporary passwords beside them."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import make_password

from .. import passwords
from . import Verdict

BACKEND = "accounts.backends.cloud.CloudPasswordBackend"


class CloudPasswordBackend(ModelBackend):
    """Django's model backend: sessions and permissions for every user of the portal.

    The login flow calls `verify()` instead of `authenticate()` so that it learns *why* a
    password was refused; `authenticate()` stays for Django's own uses.
    """


def _spend_one_hash(password):
    """Unknown addresses cost the same Argon2 work as known ones: no timing difference."""
    make_password(password)


def verify(address, user, password):
    """Check a cloud password (or a pending temporary one) for the user found by the address.

    Every guess costs exactly one Argon2 computation and one keyed hash, whatever the account's state
    (none, a password, a temporary one pending, both, neither): the time tells nobody which it is.
    """
    if user is not None and user.has_usable_password():
        password_ok = user.check_password(password)
    else:
        _spend_one_hash(password)
        password_ok = False
    temporary_ok = passwords.temporary_password_matches(user, password)
    if user is None:
        return Verdict(reason="unknown_user")
    if password_ok:
        if user.must_change_password and passwords.temporary_password_expired(user):
            return Verdict(user=user, reason="temporary_password_expired", detail="used, not changed")
        return _active(user)
    if temporary_ok:
        if passwords.temporary_password_expired(user):
            return Verdict(user=user, reason="temporary_password_expired")
        if not user.is_active:
            return Verdict(user=user, reason="inactive")
        passwords.start_using_temporary_password(user, password)
        return Verdict(user=user, detail="temporary password")
    if not user.has_usable_password():
        return Verdict(user=user, reason="no_cloud_password")
    return Verdict(user=user, reason="bad_password")


def _active(user):
    return Verdict(user=user) if user.is_active else Verdict(user=user, reason="inactive")
