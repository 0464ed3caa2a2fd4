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
    """Check a cloud password (or a pending temporary one) for the user found by the address."""
    if user is None:
        _spend_one_hash(password)
        return Verdict(reason="unknown_user")
    if user.has_usable_password() and user.check_password(password):
        if user.must_change_password and passwords.temporary_password_expired(user):
            return Verdict(user=user, reason="temporary_password_expired", detail="used, not changed")
        return _active(user)
    if passwords.temporary_password_matches(user, password):
        if passwords.temporary_password_expired(user):
            return Verdict(user=user, reason="temporary_password_expired")
        if not user.is_active:
            return Verdict(user=user, reason="inactive")
        passwords.start_using_temporary_password(user)
        return Verdict(user=user, detail="temporary password")
    if not user.has_usable_password():
        if not user.temporary_password:
            _spend_one_hash(password)
        return Verdict(user=user, reason="no_cloud_password")
    return Verdict(user=user, reason="bad_password")


def _active(user):
    return Verdict(user=user) if user.is_active else Verdict(user=user, reason="inactive")
