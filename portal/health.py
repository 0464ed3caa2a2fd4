"""Readiness: whether this process can serve, part by part (the database, the cache, and what the apps
register: the attachment storage, the malware scanner)."""

import logging
import secrets
import time

from django.core.cache import cache
from django.db import DatabaseError, connection

log = logging.getLogger("portal.health")
STORAGE_PROBE_SECONDS = 10  # the storage probe writes a file: once in a while, not at every call
_storage_probed = {"at": 0.0, "problem": None}


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def storage_check(check):
    """A check of the attachment storage (messaging registers it): `check()` gives (where, problem); it
    writes a test object, so it runs at most every STORAGE_PROBE_SECONDS and its answer is kept."""

    def probe():
        now = time.monotonic()
        if now - _storage_probed["at"] > STORAGE_PROBE_SECONDS:
            _where, problem = check()
            _storage_probed.update(at=now, problem=problem)
        if _storage_probed["problem"]:
            raise OSError(_storage_probed["problem"])

    return probe


def _cache():
    key, value = f"portal:readyz:{secrets.token_hex(4)}", secrets.token_hex(4)
    cache.set(key, value, 30)
    if cache.get(key) != value:
        raise OSError("the cache did not give back what was put in")
    cache.delete(key)


CHECKS = {"database": (_database, None), "cache": (_cache, None)}


def register(name, check, when=None):
    """Another part /readyz asks (an app's, at start): `check()` raises when the part does not answer;
    `when()`, if given, says whether the part is in use at all (a scanner that is not configured)."""
    CHECKS[name] = (check, when)


def readiness():
    """({part: "ok" or "failed"}, [the parts that failed]). No error text: the answer is public."""
    results = {}
    for name, (check, when) in CHECKS.items():
        if when is not None and not when():
            continue
        try:
            check()
            results[name] = "ok"
        except (DatabaseError, OSError, Exception) as problem:  # any failure of the part means not ready
            results[name] = "failed"
            # The answer is public-facing and says only which part; the operator's log says why.
            log.warning("event=not_ready part=%s error=%s cause=%s", name, type(problem).__name__, problem)
    return results, [name for name, state in results.items() if state != "ok"]
