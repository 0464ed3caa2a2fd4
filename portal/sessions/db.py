"""Sessions in the database (one node, or several without a shared cache)."""

from django.contrib.sessions.backends import db

from . import FewerStatements


class SessionStore(FewerStatements, db.SessionStore):
    def delete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key is not None:
            self._delete_row(session_key)
