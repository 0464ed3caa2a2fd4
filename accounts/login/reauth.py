"""Re-authentication: a signed-in person proves it is still them before a sensitive change, through
the login's own password check and guessing limits."""

from portal.client import client_ip

from .. import throttle
from .steps import check_password


def confirm_password(request, user, password):
    """Whether `password` is the signed-in user's password now (counted like a login's guess)."""
    try:
        with throttle.guess(user.email, client_ip(request), user) as attempt:
            verdict, _method = check_password(user.email, password, user)
            attempt.right(verdict.ok or verdict.outage)
    except throttle.Locked:
        return False
    return verdict.ok and verdict.user.pk == user.pk
