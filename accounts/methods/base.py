"""The contract every sign-in method keeps, and what a password method answers."""

from typing import Any

from django.utils.functional import Promise

from ..login.contract import Answer, Step, Verdict
from ..models import MethodKey, PasswordHelpRequest, User

__all__ = ["IdentityProviderSignIn", "SignInMethod", "Verdict"]


class SignInMethod:
    """One way to prove who you are. A module defines one subclass and registers an instance of it.

    - `enabled()`: whether this server has it on (its settings are set);
    - `takes_password`: it checks the password typed on the password step (`verify`);
    - `creates_accounts`: a first sign-in may make the account (the directory, the IdP);
    - `steps()`: the login steps it adds before the password step;
    - `doctor_check(d)`: what the login doctor says of it for one address (a troubleshooting.Check);
    - `password_help(user)`: what "forgotten password" sends for it, or None when it has nothing to say;
    - `end_session(kept)`: where logging out sends the browser to end the session at the provider too
      (single logout; a Redirect, or a Page that posts there), from what its login kept; None for none;
    - `form_origins()`: where its pages' forms may lead (the CSP's form-action).
    """

    key: MethodKey
    service_label: str | Promise = ""  # what the administrator is told is off, e.g. "Single sign-on"
    takes_password = False
    creates_accounts = False

    @property
    def label(self) -> str | Promise:
        return MethodKey(self.key).label

    def enabled(self) -> bool:
        return True

    def verify(self, address: str, user: User | None, password: str) -> Verdict:
        raise NotImplementedError

    def steps(self) -> list[Step]:
        return []

    def doctor_check(self, d: Any) -> Any:
        return None

    def password_help(self, user: User) -> str | None:
        return None

    def end_session(self, kept: dict[str, Any]) -> Answer | None:
        return None

    def form_origins(self) -> list[str]:
        return []


class IdentityProviderSignIn(SignInMethod):
    """A method where another service proves who the person is (SAML, OpenID Connect): its first sign-in
    may make the account, and a forgotten password is the provider's business."""

    creates_accounts = True

    def password_help(self, user: User) -> str | None:
        return PasswordHelpRequest.Outcome.SINGLE_SIGN_ON
