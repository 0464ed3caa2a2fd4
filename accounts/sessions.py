"""Where each person is logged in: the index of their sessions, and ending them.

Django keeps sessions by key, not by person. At each login the new session's key is indexed with the
account, the client's address and browser; the Security page lists them (with when each was last
seen, refreshed at most every few minutes) and ends them; a password change, a deactivation and the
administrator's "End all sessions" end them all. Ending a session deletes it from the session store
(and its cached copy), so its cookie opens nothing any more.
"""

import time
from importlib import import_module

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.models import Session
from django.utils import timezone

from portal.client import client_ip

from . import registry
from .models import SignedInSession
from .troubleshooting import describe_browser

LAST_SEEN = "last_seen"  # in the session: when its index row was last refreshed
# In the session of a login by an identity provider: what ending it there needs (single logout),
# {"method": the method's key, "subject": who the provider said it was, ...the method's own data}.
SINGLE_LOGOUT = "single_logout"
REFRESH_SECONDS = 300


def _store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def live(user):
    """The person's sessions that still open something, most recently seen first."""
    alive = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return SignedInSession.objects.filter(user=user, session_key__in=alive)


def end(user, session_key):
    """End one session of `user`; False when it is not theirs (or already over)."""
    row = SignedInSession.objects.filter(user=user, session_key=session_key).first()
    if row is None:
        return False
    _store()().delete(row.session_key)
    row.delete()
    return True


def end_all(user, except_key=None):
    """End every session of `user` but `except_key`'s; returns how many still worked."""
    rows = SignedInSession.objects.filter(user=user).exclude(session_key=except_key or "")
    keys = list(rows.values_list("session_key", flat=True))
    working = Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).count()
    store = _store()
    for key in keys:
        store().delete(key)
    rows.delete()
    return working


def people_of_subject(subject):
    """Who has a session signed in by the identity provider's `subject` (a single logout ends them)."""
    rows = SignedInSession.objects.filter(provider_subject=subject).select_related("user")
    return list({row.user for row in rows})


def forget_ended():
    """Index rows of sessions that ended by themselves (expired, or cleared by Django): the purge timer
    drops them. Returns how many went."""
    alive = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return SignedInSession.objects.exclude(session_key__in=alive).delete()[0]


def _logged_in(sender, request, user, **kwargs):
    """The key exists only once the response saves the session: `IndexSessionsMiddleware` indexes it."""
    request.session[LAST_SEEN] = time.time()
    request.signed_in_user = user


def forget(user, session_key):
    """A session that ends by logging out leaves the index."""
    return SignedInSession.objects.filter(user=user, session_key=session_key).delete()[0]


user_logged_in.connect(_logged_in, dispatch_uid="accounts_sessions_logged_in")


class IndexSessionsMiddleware:
    """Outside SessionMiddleware: after a login's response has saved the new session, index its key."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        before = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        response = self.get_response(request)
        user = getattr(request, "signed_in_user", None)
        key = user is not None and request.session.session_key
        if not key:
            _follow_new_key(request, before)
        else:
            user_agent = request.META.get("HTTP_USER_AGENT", "")
            SignedInSession.objects.create(
                user=user,
                session_key=key,
                ip=client_ip(request) or None,
                browser=describe_browser(user_agent),
                provider_subject=request.session.get(SINGLE_LOGOUT, {}).get("subject", ""),
            )
        return response


def _follow_new_key(request, before):
    """A session given a new key while signed in (a password change cycles it) keeps its index row: it
    stays listed, and every way of ending a person's sessions still reaches it."""
    session = getattr(request, "session", None)
    after = session.session_key if session is not None else None
    if before and after and after != before:
        SignedInSession.objects.filter(session_key=before).update(session_key=after)


class LastSeenMiddleware:
    """A signed-in request refreshes its session's 'last seen' at most every few minutes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            seen = request.session.get(LAST_SEEN, 0)
            if time.time() - seen > REFRESH_SECONDS:
                request.session[LAST_SEEN] = time.time()
                SignedInSession.objects.filter(session_key=request.session.session_key).update(
                    last_seen_at=timezone.now(), ip=client_ip(request) or None
                )
        return self.get_response(request)


class SingleLogoutFormsMiddleware:
    """A session an identity provider signed in logs out there too: the logout form on its pages leads
    (by a redirect) to the provider, so the pages' CSP form-action names the provider's address."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        kept = request.session.get(SINGLE_LOGOUT) if hasattr(request, "session") else None
        method = registry.REGISTRY.get((kept or {}).get("method"))
        if method is not None and method.enabled():
            update = getattr(response, "_csp_update", None) or {}
            origins = [*update.get("form-action", []), *method.form_origins()]
            response._csp_update = {**update, "form-action": sorted(set(origins))}
        return response
