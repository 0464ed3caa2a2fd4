"""Sessions in the database, read from the shared cache first (CACHE_URL)."""

from django.contrib.sessions.backends import cached_db

from . import FewerStatements


class SessionStore(FewerStatements, cached_db.SessionStore):
    def delete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key is not None:
            self._delete_row(session_key)
            self._cache.delete(self.cache_key_prefix + session_key)
