"""The cloud-password lifecycle: temporary passwords, the forgotten-password email, forced changes."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from portal import audit, mail

from . import registry, tokens
from .models import PasswordHelpRequest, User, normalize_address

log = logging.getLogger("portal.passwords")

LENGTH = 16  # characters of tokens.ALPHABET: about 79 bits


def new_temporary_password():
    """A random password shown in groups, e.g. 'k7qd-2wxm-9fhp-3nta'."""
    return tokens.grouped(tokens.random_code(LENGTH))


def issue_temporary_password(user, reason="forgot_password", when_sent=None):
    """Give the user a pending temporary password; returns it in plain text, for the email only.

    The current password keeps working until the temporary one is used; a new one replaces
    any earlier one. The notification worker issues it as it sends the email (`when_sent`: it is kept
    only once the relay has taken the email), recorded as the system's doing with `reason` (who asked
    for it, or why), in the same transaction.
    """
    plain = new_temporary_password()
    user.temporary_password = _keyed_hash(plain)
    user.temporary_password_expires_at = timezone.now() + timedelta(
        hours=user.profile().temporary_password_hours
    )

    def keep():
        with transaction.atomic():
            user.save(update_fields=["temporary_password", "temporary_password_expires_at"])
            audit.record(
                audit.Event.TEMPORARY_PASSWORD_ISSUED, actor=audit.SYSTEM, subject=user, reason=reason,
                expires_at=user.temporary_password_expires_at.isoformat(),
            )  # fmt: skip

    (when_sent or (lambda write: write()))(keep)
    return plain


KEYED = "hmac-sha256$"


def _keyed_hash(typed):
    """A temporary password is 79 random bits: a keyed hash (HMAC under SECRET_KEY) keeps it safe at
    rest, and costs microseconds, so checking it beside a password's Argon2 adds no telling delay."""
    return KEYED + tokens.keyed_hash("accounts.temporary_password", typed)


def temporary_password_matches(user, typed):
    """Whether `typed` is the user's pending temporary password. The keyed hash is computed for every
    guess, whoever it is for, so that no account state costs more than another."""
    candidate = _keyed_hash(typed)
    stored = user.temporary_password if user is not None else ""
    return stored.startswith(KEYED) and constant_time_compare(candidate, stored)


def temporary_password_expired(user):
    expires = user.temporary_password_expires_at
    return expires is not None and expires <= timezone.now()


def in_use_as_password(user):
    """Whether the account's password is a temporary one already used once, waiting for the forced change.

    It is kept as typed codes are (tokens.compact), so it is compared the same way at every later login:
    the code works with its dashes, as the email shows it, or without.
    """
    return (
        user.must_change_password
        and user.temporary_password_expires_at is not None
        and not user.temporary_password
    )


def check(user, typed):
    """Whether `typed` is the account's password: one Argon2 computation, whatever its state."""
    return user.check_password(tokens.compact(typed) if in_use_as_password(user) else typed)


def start_using_temporary_password(user, typed):
    """The first login with a temporary password: it becomes the password, to be changed now (kept
    compacted, see in_use_as_password)."""
    user.set_password(tokens.compact(typed))
    user.temporary_password = ""
    user.must_change_password = True
    user.save(update_fields=["password", "temporary_password", "must_change_password"])


def remove_password(user):
    """No cloud password any more (the admin's 'disable password-based authentication')."""
    user.set_unusable_password()
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])


def set_password(user, password, must_change):
    """A password chosen for the person (accounts.actions.set_password)."""
    _set_password(user, password, must_change)


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
    profile = user.profile()
    for method in registry.all_methods():  # the registry's order: a cloud password first
        if profile.allows(method.key) and (outcome := method.password_help(user)):
            return outcome
    return PasswordHelpRequest.Outcome.ASK_ADMINISTRATOR


def _over_the_limit(address, ip):
    since = timezone.now() - timedelta(hours=1)
    counted = PasswordHelpRequest.objects.filter(at__gte=since).exclude(
        outcome=PasswordHelpRequest.Outcome.LIMITED
    )
    if counted.filter(email_entered=address).count() >= settings.PASSWORD_HELP_PER_ADDRESS_PER_HOUR:
        return True
    return bool(ip) and counted.filter(ip=ip).count() >= settings.PASSWORD_HELP_PER_CLIENT_PER_HOUR


def password_help(address, ip, requested_by=""):
    """Handle 'Forgot your password?': the caller always shows the same page, whatever happened.

    The page writes one row and looks up no account: the notification worker finds the account,
    decides what to send and sends it (issuing a temporary password as it does). So the answer
    takes the same time for an address with an account as for one without, and a relay outage
    delays the email but loses nothing.
    """
    Outcome = PasswordHelpRequest.Outcome
    address = normalize_address(address)
    limited = _over_the_limit(address, ip)
    outcome = Outcome.LIMITED if limited else Outcome.QUEUED
    PasswordHelpRequest.objects.create(
        email_entered=address[:254],
        outcome=outcome,
        ip=ip or None,
        requested_by=requested_by,
        next_attempt_at=None if limited else timezone.now(),
    )
    log.info("event=password_help outcome=%s", outcome)
    return outcome


def _decide(help_request):
    """The worker's half of a request the page queued: whose address it is, and what they get."""
    user, _alias = User.objects.find_by_address(help_request.email_entered)
    help_request.user = user
    if user is None or not user.is_active:
        help_request.outcome = PasswordHelpRequest.Outcome.UNKNOWN_ADDRESS
    else:
        help_request.outcome = _what_to_send(user)
    log.info("event=password_help_decided id=%s outcome=%s", help_request.pk, help_request.outcome)


def queue_temporary_password(user, requested_by):
    """An administrator sends someone a temporary password (through the same outbox)."""
    PasswordHelpRequest.objects.create(
        email_entered=user.email,
        user=user,
        requested_by=requested_by,
        outcome=PasswordHelpRequest.Outcome.TEMPORARY_PASSWORD,
        next_attempt_at=timezone.now(),
    )


def _help_email(help_request):
    """The email for a request; a temporary password is issued only now, as it goes out."""
    if help_request.outcome == PasswordHelpRequest.Outcome.QUEUED:
        _decide(help_request)
    user, to = help_request.user, help_request.email_entered
    if user is None or not user.is_active:
        return None  # the account went away meanwhile
    if help_request.outcome == PasswordHelpRequest.Outcome.TEMPORARY_PASSWORD:
        plain = issue_temporary_password(
            user, help_request.requested_by or "forgot_password", when_sent=mail.when_sent
        )
        expires_at = user.temporary_password_expires_at
        context = {"user": user, "temporary_password": plain, "expires_at": expires_at}
        return mail.build_email(to, "temporary_password", context, language=user.language)
    return mail.build_email(to, help_request.outcome, {"user": user}, language=user.language)


OUTBOX = mail.register_outbox(mail.Outbox(PasswordHelpRequest, _help_email, related=("user",)))
