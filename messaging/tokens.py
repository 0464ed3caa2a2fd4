"""Notification-link tokens: 32 random bytes in the link, only their SHA-256 in the database."""

import hashlib
import re
import secrets

TOKEN_BYTES = 32
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_token():
    """A fresh link token and the hash to store: (token, sha256 hex)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(text):
    """Cheap shape check before any database work; a wrong shape is simply not found."""
    return bool(_SHAPE.match(text or ""))
