"""Secrets people are given and type back, made and kept one way.

Codes a person reads (temporary passwords, emailed codes, backup codes, a notification's check code,
a failure's reference) come from one alphabet without look-alikes; what the database keeps of a
short code is its keyed hash (HMAC-SHA256 under SECRET_KEY, one purpose each), so that a stolen
database alone cannot test guesses, at a cost of microseconds (no telling delay beside Argon2).
Tokens of 256 bits (message links, API keys) are beyond guessing: their SHA-256 is enough.
"""

import hashlib
import secrets

from django.utils.crypto import salted_hmac

# Lower-case letters and digits without look-alikes (no 0/o, 1/l/i): easy to read and to type.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
TOKEN_BYTES = 32  # 256 bits


def random_code(length, alphabet=ALPHABET):
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_digits(count):
    return f"{secrets.randbelow(10**count):0{count}d}"


def grouped(chars, size=4):
    """'k7qd2wxm' as 'k7qd-2wxm': easier to read out and to type."""
    return "-".join(chars[i : i + size] for i in range(0, len(chars), size))


def compact(typed):
    """What a person typed, without spaces and separators, in lower case."""
    return "".join((typed or "").split()).replace("-", "").lower()


def keyed_hash(purpose, typed):
    """The keyed hash of a short code as typed (compacted first); `purpose` keeps codes of one kind
    from matching another's."""
    return salted_hmac(purpose, compact(typed), algorithm="sha256").hexdigest()


def new_token():
    """A fresh 256-bit token and what to store of it: (token, its SHA-256 in hex)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()
