"""Sign-in methods, one module each; a password method answers with a Verdict."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """What a password method concluded. `outage` marks a failure on our side, not the person's."""

    user: object = None
    reason: str = ""
    detail: str = ""
    outage: bool = False

    @property
    def ok(self):
        return self.user is not None and not self.reason


def password_methods():
    """Password methods by name, in the modules that implement them."""
    from . import cloud, network

    return {"cloud": cloud, "network": network}
