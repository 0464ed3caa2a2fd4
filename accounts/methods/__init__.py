"""Sign-in methods, one module each, behind one contract (`base.SignInMethod`); the registry that
profiles, the login, the doctor, forgotten passwords and the admin read.

Adding a method is adding its module (and its migration, templates and tests): the module
registers itself below, and every reader of the registry sees it.
"""

from .base import MethodKey, SignInMethod, Verdict

REGISTRY = {}


def register(method):
    REGISTRY[method.key] = method
    return method


def get(key):
    """The method of a key (KeyError for an unknown one)."""
    return REGISTRY[key]


def all_methods():
    return list(REGISTRY.values())


def password_methods():
    """The methods that check the password typed on the password step, by key."""
    return {key: method for key, method in REGISTRY.items() if method.takes_password}


# Registration order is the order the login offers their steps in.
from . import cloud, email_code, network, passkey, saml  # noqa: E402, F401

__all__ = [
    "MethodKey",
    "SignInMethod",
    "Verdict",
    "REGISTRY",
    "register",
    "get",
    "all_methods",
    "password_methods",
]
