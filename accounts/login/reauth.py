"""Re-authentication: a signed-in person proves it is still them before a sensitive change, through
the login's own password check and guessing limits."""

from portal.client import client_ip

from .. import throttle
from .steps import check_password


def confirm_password(request, user, password):
    """Whether `password` is the signed-in user's password now (counted like a login's guess)."""
    ip = client_ip(request)
    if not throttle.reserve(user.email, ip, user):
        return False
    verdict, _method = check_password(user.email, password, user)
    if verdict.ok or verdict.outage:
        throttle.give_back(user.email, ip, user)
    return verdict.ok and verdict.user.pk == user.pk
