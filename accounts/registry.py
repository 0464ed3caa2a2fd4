"""The registry of sign-in methods: each method's module (accounts.methods) registers itself when the app
is ready; profiles, the login, the doctor, forgotten passwords and the admin find methods only here. It
imports nothing of the app, so that anything may read it without an import loop."""

# The methods' modules (in accounts.methods), in the order the login offers their steps and "forgotten
# password" asks them: the accounts app imports them when it is ready. The order is this list's, not the
# order of import (the admin, loaded first, imports some).
MODULES = ["cloud", "email_code", "network", "oidc", "passkey", "saml"]
REGISTRY = {}


def register(method):
    REGISTRY[method.key] = method
    return method


def get(key):
    """The method of a key (KeyError for an unknown one)."""
    return REGISTRY[key]


def _place(method):
    return MODULES.index(type(method).__module__.rpartition(".")[2])


def all_methods():
    """In the order of MODULES."""
    return sorted(REGISTRY.values(), key=_place)


def password_methods():
    """The methods that check the password typed on the password step, by key, in the order of MODULES."""
    return {method.key: method for method in all_methods() if method.takes_password}
