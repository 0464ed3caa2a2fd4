"""Sign-in methods, one module each, behind one contract (`base.SignInMethod`); the registry that
profiles, the login, the doctor, forgotten passwords and the admin read.

Adding a method is adding its module (and its migration, templates and tests) to MODULES: the accounts
app imports them when it is ready, each registers itself, and every reader of the registry sees it. Nothing
else imports a method, and no method imports another.
"""

from ..registry import MODULES, REGISTRY, all_methods, get, password_methods, register
from .base import MethodKey, SignInMethod, Verdict

__all__ = [
    "MethodKey",
    "SignInMethod",
    "Verdict",
    "MODULES",
    "REGISTRY",
    "register",
    "get",
    "all_methods",
    "password_methods",
]
