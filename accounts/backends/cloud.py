"""Cloud passwords: kept by the portal as Argon2id hashes."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import make_password

from . import Verdict

BACKEND = "accounts.backends.cloud.CloudPasswordBackend"


class CloudPasswordBackend(ModelBackend):
    """Django's model backend: sessions and permissions for every user of the portal.

    The login flow calls `verify()` instead of `authenticate()` so that it learns *why* a
    password was refused; `authenticate()` stays for Django's own uses (the test client).
    """


def _spend_one_hash(password):
    """Unknown addresses cost the same Argon2 work as known ones: no timing difference."""
    make_password(password)


def verify(user, password):
    """Check a cloud password for a user found by the address (None when nobody has it)."""
    if user is None:
        _spend_one_hash(password)
        return Verdict(reason="unknown_user")
    if not user.has_usable_password():
        _spend_one_hash(password)
        return Verdict(user=user, reason="no_cloud_password")
    if not user.check_password(password):
        return Verdict(user=user, reason="bad_password")
    if not user.is_active:
        return Verdict(user=user, reason="inactive")
    return Verdict(user=user)
