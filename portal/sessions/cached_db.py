"""Sessions in the database, read from the shared cache first (CACHE_URL)."""

from django.contrib.sessions.backends import cached_db

from . import db


class SessionStore(cached_db.SessionStore, db.SessionStore):
    """Django's cached_db over the rows of `portal.sessions.db` (its delete drops the cached copy, then
    the row in one statement)."""
