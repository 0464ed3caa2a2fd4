"""Sessions in the database (one node, or several without a shared cache)."""

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.utils.crypto import get_random_string


class SessionStore(db.SessionStore):
    def _get_new_session_key(self):
        return get_random_string(32, VALID_KEY_CHARS)

    def cycle_key(self):
        """A new key for the same data (at login: no fixation); its row is made when the session is saved."""
        data, old = self._session, self.session_key
        self._session_key = None
        self._session_cache = data
        self.modified = True
        if old:
            self.delete(old)

    def delete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key is not None:
            self.model.objects.filter(session_key=session_key).delete()
