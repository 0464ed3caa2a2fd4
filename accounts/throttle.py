"""Guessing limits kept in the database, so that they hold across every server process.

A guess first *reserves* a failure slot for its address and its client, in a row locked for
the update; only then is a password hashed. A success gives the slots back. So twenty guesses
in parallel against a limit of ten hash at most ten passwords, on any number of workers.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone

from .models import Throttle, User, normalize_address

log = logging.getLogger("portal.login")


def _window():
    return timedelta(minutes=settings.LOCKOUT_MINUTES)


def _limit(scope):
    return {
        Throttle.Scope.ADDRESS: settings.LOCKOUT_FAILURES_PER_ADDRESS,
        Throttle.Scope.CLIENT: settings.LOCKOUT_FAILURES_PER_CLIENT,
        Throttle.Scope.CHECK: settings.CHECKS_PER_CLIENT,
    }[scope]


def _locked_row(scope, key):
    """The throttle row for a key, locked for this transaction (created if need be)."""
    return Throttle.objects.select_for_update().get_or_create(scope=scope, key=key)[0]


def _reserve_one(scope, key, now):
    row = _locked_row(scope, key)
    if row.is_locked:
        return False
    if row.window_start < now - _window() or row.locked_until:
        # A new window: the old failures are too old to count, or the lock has run out.
        row.window_start, row.failures, row.locked_until = now, 0, None
    if row.failures >= _limit(scope):
        row.save()
        return False
    row.failures += 1
    if row.failures >= _limit(scope):
        # This guess is the last one allowed; if it fails, the key stays locked.
        row.locked_until = now + _window()
    row.save()
    return True


UNKNOWN = object()  # the caller has not looked the address's account up


def address_key(address, owner=UNKNOWN):
    """What guesses at an address are counted under: its account's primary address when it has one, so
    that an alias brings no guesses of its own. `owner`: the account, when the caller has it already."""
    if owner is UNKNOWN:
        owner, _alias = User.objects.find_by_address(address)
    return owner.email if owner is not None else normalize_address(address)


def keys(address, ip, owner=UNKNOWN):
    found = [(Throttle.Scope.ADDRESS, address_key(address, owner))]
    if ip:
        found.append((Throttle.Scope.CLIENT, ip))
    return found


def reserve(address, ip, owner=UNKNOWN):
    """Reserve one guess for this address and client; False when either is locked out."""
    now = timezone.now()
    with transaction.atomic():
        for scope, key in keys(address, ip, owner):
            if not _reserve_one(scope, key, now):
                transaction.set_rollback(True)  # give back what the other key reserved
                return False
    return True


def give_back(address, ip, owner=UNKNOWN):
    """A guess succeeded: its reserved slots do not count as failures."""
    for scope, key in keys(address, ip, owner):
        give_back_one(scope, key)


def reserve_one(scope, key):
    """Reserve one guess of another kind (a notification's check code) for one key; False when locked."""
    with transaction.atomic():
        return _reserve_one(scope, key, timezone.now())


def give_back_one(scope, key):
    """One statement, atomic in the database, so no lock need be held."""
    Throttle.objects.filter(scope=scope, key=key, failures__gt=0).update(
        failures=F("failures") - 1,
        # Compared with the count before this update: one fewer is below the limit again.
        locked_until=Case(When(failures__lte=_limit(scope), then=None), default=F("locked_until")),
    )


def lift(row, by=""):
    """An administrator lifts a lockout: the count starts again from zero."""
    now = timezone.now()
    row.failures, row.window_start, row.locked_until = 0, now, None
    row.lifted_at, row.lifted_by = now, by
    row.save()
    log.info("event=lockout_lifted scope=%s by=%s", row.scope, by or "-")


def forget_stale():
    """Delete counters that count nothing any more (window over, no lock): guesses at made-up
    addresses would otherwise leave a row each, for ever. Returns how many went."""
    now = timezone.now()
    stale = Throttle.objects.filter(window_start__lt=now - _window()).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )
    return stale.delete()[0]
