"""The login: one state machine (`engine`), its steps (`steps`, and those the sign-in methods add), the
words a failure shows (`failure`) and re-authentication (`reauth`)."""

from .contract import OFFER_PASSKEY, SIGNED_IN_AT, Json, LoginFailed, Page, Redirect, Step, recently_signed_in
from .engine import LoginFlow, start_scoped_login
from .failure import GENERIC_FAILURE, generic_failure_message, outage_message
from .reauth import confirm_password

__all__ = [
    "OFFER_PASSKEY",
    "SIGNED_IN_AT",
    "recently_signed_in",
    "GENERIC_FAILURE",
    "Json",
    "LoginFailed",
    "LoginFlow",
    "Page",
    "Redirect",
    "Step",
    "confirm_password",
    "generic_failure_message",
    "outage_message",
    "start_scoped_login",
]
