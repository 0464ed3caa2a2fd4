"""Notification-link tokens: 32 random bytes in the link, only their SHA-256 in the database."""

import re

from accounts import tokens

TOKEN_BYTES = tokens.TOKEN_BYTES
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


new_token = tokens.new_token  # (token, sha256 hex)
hash_token = tokens.token_hash


def looks_like_token(text):
    """Cheap shape check before any database work; a wrong shape is simply not found."""
    return bool(_SHAPE.match(text or ""))
