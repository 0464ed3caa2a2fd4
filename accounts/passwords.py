"""The cloud-password lifecycle: temporary passwords, the forgotten-password email, forced changes."""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.utils import timezone

from . import mail
from .models import PasswordHelpRequest, User, normalize_address

log = logging.getLogger("portal.passwords")

# Lower-case letters and digits without look-alikes (no 0/o, 1/l/i): easy to read and to type.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
GROUPS, GROUP_LENGTH = 4, 4  # 16 characters, about 79 bits


def new_temporary_password():
    """A random password shown in groups, e.g. 'k7qd-2wxm-9fhp-3nta'."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(chars[i : i + GROUP_LENGTH] for i in range(0, len(chars), GROUP_LENGTH))


def compact(typed):
    """What a person types for a temporary password, with or without the separators."""
    return "".join(typed.split()).replace("-", "").lower()


def issue_temporary_password(user, *, hashed=None, plain=None):
    """Give the user a pending temporary password; returns it in plain text, for the email only.

    The current password keeps working until the temporary one is used; a new one replaces
    any earlier one.
    """
    if plain is None:
        plain = new_temporary_password()
        hashed = make_password(compact(plain))
    user.temporary_password = hashed
    user.temporary_password_expires_at = timezone.now() + timedelta(
        hours=user.profile().temporary_password_hours
    )
    user.save(update_fields=["temporary_password", "temporary_password_expires_at"])
    return plain


def temporary_password_matches(user, typed):
    return bool(user.temporary_password) and check_password(compact(typed), user.temporary_password)


def temporary_password_expired(user):
    expires = user.temporary_password_expires_at
    return expires is not None and expires <= timezone.now()


def start_using_temporary_password(user):
    """The first login with a temporary password: it becomes the password, to be changed now."""
    user.password = user.temporary_password
    user.temporary_password = ""
    user.must_change_password = True
    user.save(update_fields=["password", "temporary_password", "must_change_password"])


def _set_password(user, password, must_change):
    user.set_password(password)
    user.must_change_password = must_change
    user.temporary_password = ""
    user.temporary_password_expires_at = None
    user.save()


def finish_password_change(user, new_password):
    """The person chose their own password: nothing temporary or forced is left."""
    _set_password(user, new_password, must_change=False)


def set_password_to_change(user, password):
    """An administrator sets a password that the person must change at the next login."""
    _set_password(user, password, must_change=True)


def _what_to_send(user):
    """Which help an account gets, by its profile: an outcome of PasswordHelpRequest."""
    Outcome = PasswordHelpRequest.Outcome
    profile = user.profile()
    if profile.allows("cloud"):
        if user.has_usable_password() or user.temporary_password or profile.allow_self_service_password:
            return Outcome.TEMPORARY_PASSWORD
        return Outcome.ASK_ADMINISTRATOR
    if profile.allows("network"):
        return Outcome.NETWORK_PASSWORD
    if profile.allows("saml"):
        return Outcome.SINGLE_SIGN_ON
    return Outcome.ASK_ADMINISTRATOR


def _over_the_limit(address, ip):
    since = timezone.now() - timedelta(hours=1)
    counted = PasswordHelpRequest.objects.filter(at__gte=since).exclude(
        outcome=PasswordHelpRequest.Outcome.LIMITED
    )
    if counted.filter(email_entered=address).count() >= settings.PASSWORD_HELP_PER_ADDRESS_PER_HOUR:
        return True
    return bool(ip) and counted.filter(ip=ip).count() >= settings.PASSWORD_HELP_PER_CLIENT_PER_HOUR


def send_temporary_password(user, to, plain):
    return mail.send_in_background(
        to,
        "temporary_password",
        {"user": user, "temporary_password": plain, "expires_at": user.temporary_password_expires_at},
    )


def password_help(address, ip, requested_by=""):
    """Handle 'Forgot your password?': the caller always shows the same page, whatever happened.

    Every path spends one Argon2 hash and sends its email in the background, so the answer
    takes the same time for an address with an account as for one without.
    """
    Outcome = PasswordHelpRequest.Outcome
    address = normalize_address(address)
    plain = new_temporary_password()
    hashed = make_password(compact(plain))
    user, _alias = User.objects.find_by_address(address)
    if _over_the_limit(address, ip):
        outcome = Outcome.LIMITED
    elif user is None or not user.is_active:
        outcome = Outcome.UNKNOWN_ADDRESS
    else:
        outcome = _what_to_send(user)
    if outcome == Outcome.TEMPORARY_PASSWORD:
        issue_temporary_password(user, hashed=hashed, plain=plain)
        send_temporary_password(user, address, plain)
    elif outcome in (Outcome.NETWORK_PASSWORD, Outcome.SINGLE_SIGN_ON, Outcome.ASK_ADMINISTRATOR):
        mail.send_in_background(address, outcome, {"user": user})
    PasswordHelpRequest.objects.create(
        email_entered=address[:254], user=user, outcome=outcome, ip=ip or None, requested_by=requested_by
    )
    log.info("event=password_help outcome=%s", outcome)
    return outcome
