"""Guessing limits kept in the database, so that they hold across every server process.

A guess first *reserves* a failure slot for its address and its client, in one statement that
locks their rows; only then is a password hashed. A success gives the slots back. So twenty guesses
in parallel against a limit of ten hash at most ten passwords, on any number of workers.
"""

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .models import THROTTLE_SCOPES, Throttle, User, normalize_address

log = logging.getLogger("portal.login")

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Limit:
    """How much a scope allows: the setting that holds the number, and over what time. An allowance
    counts uses within an hour; otherwise the count runs for LOCKOUT_MINUTES, and so does the lock."""

    setting: str
    per_hour: bool = False


LIMITS = {}


def register(limits):
    """An app's own counters: each scope (a TextChoices member, whose label the admin's Lockouts page
    shows) and its Limit. Counted here, in one locking statement, so parallel requests cannot overspend."""
    THROTTLE_SCOPES.update((scope.value, scope.label) for scope in limits)
    LIMITS.update(limits)


register(
    {
        Throttle.Scope.ADDRESS: Limit("LOCKOUT_FAILURES_PER_ADDRESS"),
        Throttle.Scope.CLIENT: Limit("LOCKOUT_FAILURES_PER_CLIENT"),
        Throttle.Scope.CODE: Limit("CODES_PER_ADDRESS_PER_HOUR", per_hour=True),
    },
)


def _window(scope):
    return HOUR if LIMITS[scope].per_hour else timedelta(minutes=settings.LOCKOUT_MINUTES)


def _limit(scope):
    return getattr(settings, LIMITS[scope].setting)


# One statement reserves a guess for every key: the row is created, or its count taken up by one, only
# where the key is not locked and has a guess left (the WHERE of the upsert); expressions read the row as it
# was. Stale counts (window over, or a lock that ran out) start again from one. Written out because the
# ORM has no conditional upsert; PostgreSQL and SQLite (3.35+) both run it, and both lock the row.
_RESERVE = """
INSERT INTO {table} (scope, "key", window_start, failures, locked_until, lifted_at, lifted_by)
VALUES {values}
ON CONFLICT (scope, "key") DO UPDATE SET
    failures = {counted} + 1,
    window_start = CASE WHEN {stale} THEN %(now)s ELSE {table}.window_start END,
    locked_until = CASE WHEN {counted} + 1 >= {limit} THEN %(lock)s ELSE NULL END
WHERE ({table}.locked_until IS NULL OR {table}.locked_until <= %(now)s) AND {counted} < {limit}
RETURNING scope
"""


def _per_key(pairs, table):
    """The parameters of each (scope, key) (scope0, key0, limit0, …) and the SQL of a row's limit."""
    params = {}
    for number, (scope, key) in enumerate(pairs):
        params.update({f"scope{number}": scope, f"key{number}": key, f"limit{number}": _limit(scope)})
    cases = " ".join(f"WHEN %(scope{number})s THEN %(limit{number})s" for number in range(len(pairs)))
    return params, f"(CASE {table}.scope {cases} END)"


def _reserve(pairs, now):
    """Reserve one guess for each (scope, key); True when every one had a guess left."""
    table = connection.ops.quote_name(Throttle._meta.db_table)
    stale = f"({table}.window_start < %(cutoff)s OR {table}.locked_until IS NOT NULL)"
    params, limit = _per_key(pairs, table)
    window = _window(pairs[0][0])  # the pairs of one call share their window
    params.update(now=_adapt(now), cutoff=_adapt(now - window), lock=_adapt(now + window))
    values = []
    for number, (scope, _key) in enumerate(pairs):
        params[f"first{number}"] = params["lock"] if _limit(scope) <= 1 else None
        values.append(f"(%(scope{number})s, %(key{number})s, %(now)s, 1, %(first{number})s, NULL, '')")
    sql = _RESERVE.format(
        table=table,
        values=", ".join(values),
        counted=f"(CASE WHEN {stale} THEN 0 ELSE {table}.failures END)",
        stale=stale,
        limit=limit,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        granted = cursor.fetchall()
    return len(granted) == len(pairs)


def _adapt(moment):
    return connection.ops.adapt_datetimefield_value(moment)


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


class Locked(Exception):
    """The address or the client has no guess left: refused before any checking."""


class Guess:
    """One reserved guess. The caller says whether it counts: a right guess, or one that failed on our
    side (the directory down), is given back when the block ends; a wrong one stays counted."""

    def __init__(self):
        self.counts = True

    def right(self, was_right=True):
        if was_right:
            self.counts = False


@contextmanager
def _counted(pairs, reserve_them, locked):
    """Reserve before the block checks anything; raise `locked` (or Locked) when there is no guess
    left; give the reservation back at the end unless the guess counts."""
    if not reserve_them(pairs):
        raise locked if locked is not None else Locked()
    attempt = Guess()
    try:
        yield attempt
    finally:
        if not attempt.counts:
            _give_back(pairs)


def guess(address, ip, owner=UNKNOWN, *, locked=None):
    """A guess at an address from a client (a password, a code, a passkey), counted for both in one
    statement: `with throttle.guess(address, ip, owner, locked=...) as attempt: ... attempt.right(ok)`."""
    return _counted(keys(address, ip, owner), _reserve_together, locked)


def guess_each(pairs, locked=None):
    """A guess counted under each (scope, key), each in its own window (a notification's check code)."""
    return _counted(pairs, _reserve_each, locked)


def _reserve_together(pairs):
    with transaction.atomic():
        if not _reserve(pairs, timezone.now()):
            transaction.set_rollback(True)  # give back what the other key reserved
            return False
    return True


def _reserve_each(pairs):
    """Reserve one guess for each (scope, key), each in its own window; False (and none kept) when
    any is used up."""
    with transaction.atomic():
        now = timezone.now()
        if not all(_reserve([pair], now) for pair in pairs):
            transaction.set_rollback(True)
            return False
    return True


def take(scope, key):
    """Use one of the hour's allowance of `scope` (a Limit per hour) for `key`; False when it is used up.
    One statement that locks the row: twelve parallel requests against an allowance of three get three."""
    with transaction.atomic():
        return _reserve([(scope, key)], timezone.now())


def left(scope, key):
    """How much of the hour's allowance `key` has left (for the page that offers it)."""
    row = Throttle.objects.filter(scope=scope, key=key).first()
    now = timezone.now()
    if row is None or row.window_start < now - _window(scope) and not row.is_locked:
        return _limit(scope)
    if row.is_locked:
        return 0
    return max(0, _limit(scope) - row.failures)


def _give_back(pairs):
    """One statement, atomic in the database, so no lock need be held. Written out: the ORM's build of
    the same update cost more than the rest of a successful login's statements together."""
    table = connection.ops.quote_name(Throttle._meta.db_table)
    params, limit = _per_key(pairs, table)
    which = " OR ".join(f'(scope = %(scope{n})s AND "key" = %(key{n})s)' for n in range(len(pairs)))
    # Compared with the count before this update: one fewer is below the limit again.
    sql = (
        f"UPDATE {table} SET failures = failures - 1, locked_until = CASE WHEN failures <= {limit} "  # noqa: S608
        f"THEN NULL ELSE locked_until END WHERE failures > 0 AND ({which})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def lift(row, by=""):
    """An administrator lifts a lockout: the count starts again from zero."""
    now = timezone.now()
    row.failures, row.window_start, row.locked_until = 0, now, None
    row.lifted_at, row.lifted_by = now, by
    row.save()
    log.info("event=lockout_lifted scope=%s by=%s", row.scope, by or "-")


def forget_stale():
    """Delete counters that count nothing any more (their own window over, no lock): guesses at made-up
    addresses would otherwise leave a row each, for ever. Returns how many went."""
    now = timezone.now()
    over = Q()
    for scope in LIMITS:
        over |= Q(scope=scope, window_start__lt=now - _window(scope))
    stale = Throttle.objects.filter(over).filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
    return stale.delete()[0]
