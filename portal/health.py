"""Readiness: whether this process can serve, part by part (the database, the storage, the cache)."""

import secrets

from django.core.cache import cache
from django.db import DatabaseError, connection


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _storage():
    from messaging import storage

    _where, problem = storage.check()
    if problem:
        raise OSError(problem)


def _cache():
    key, value = f"portal:readyz:{secrets.token_hex(4)}", secrets.token_hex(4)
    cache.set(key, value, 30)
    if cache.get(key) != value:
        raise OSError("the cache did not give back what was put in")
    cache.delete(key)


CHECKS = {"database": _database, "storage": _storage, "cache": _cache}


def readiness():
    """({part: "ok" or "failed"}, [the parts that failed]). No error text: the answer is public."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except (DatabaseError, OSError, Exception):  # any failure of the part means not ready
            results[name] = "failed"
    return results, [name for name, state in results.items() if state != "ok"]
