"""The login's contract: what a step is, what it answers (a page, a redirect, JSON), how it refuses, and
the state kept between requests. The sign-in methods and the login's own steps import this module, never
the engine (which finds the methods through their registry)."""

import dataclasses
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

SIGNED_IN_AT = "signed_in_at"  # when this session's login finished: sensitive changes are easier soon after
OFFER_PASSKEY = "offer_passkey"  # the session's person may be offered to add a passkey
RECENT_SECONDS = 600


def recently_signed_in(request: HttpRequest) -> bool:
    return time.time() - request.session.get(SIGNED_IN_AT, 0) < RECENT_SECONDS


class StepName(StrEnum):
    """The login's steps, in the order they may come (the form's `step` field names one)."""

    IDENTIFY = "identify"
    SSO = "sso"  # SAML
    OIDC = "oidc"
    EMAIL_CODE = "email_code"
    PASSKEY = "passkey"
    VERIFY = "verify"  # the password
    PERMIT = "permit"
    TWO_STEP = "two_step"
    BACKUP_CODES = "backup_codes"
    CHANGE = "change"  # a temporary password changed
    DONE = "done"


class LoginFailed(Exception):
    """A step refused the login; `reason` is the audit code, never shown to the person."""

    def __init__(
        self, reason: str, detail: str = "", *, user: Any = None, method: str = "", outage: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason, self.detail, self.user = reason, detail, user
        self.method, self.outage = method, outage


@dataclass
class Page:
    """A step needs the person: render this template."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)

    def respond(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template, self.context)


@dataclass
class Redirect:
    url: str

    def respond(self, request: HttpRequest) -> HttpResponse:
        return redirect(self.url)


@dataclass
class Json:
    """An answer for the page's own script (a passkey's challenge)."""

    data: dict[str, Any]

    def respond(self, request: HttpRequest) -> HttpResponse:
        return JsonResponse(self.data)


@dataclass
class LoginState:
    """Everything a login knows between its requests; stored in the session as a plain dict."""

    passed: list[str] = field(default_factory=list)
    started: float = 0.0
    url: str = ""
    email: str = ""
    next: str = ""
    scope: dict[str, str] | None = None  # a message link's login: {"email": ..., "sender": ...}
    user_id: int | None = None  # who the first factor proved
    method: str = ""  # which method proved it
    both_factors: bool = False  # the first factor counts for two-step too (a verified passkey)
    chosen: str = ""  # a method the person chose instead of the password (an emailed code)
    saml_request: str = ""
    sso_declined: bool = False
    enrol_device: int | None = None
    otp_device: str = ""
    backup_codes_pending: bool = False
    challenge: str = ""  # a passkey ceremony's challenge
    # what a method awaits from outside (an OpenID state, nonce and code verifier)
    pending: dict[str, str] | None = None

    @classmethod
    def from_session(cls, data: dict[str, Any]) -> "LoginState":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def as_session(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Answer = Page | Redirect | Json  # what a step gives the person instead of passing


class Flow(Protocol):
    """What a step may ask of the login under way (accounts.login.engine.LoginFlow is the one)."""

    request: HttpRequest
    state: LoginState

    def user(self) -> Any: ...
    def account(self) -> Any: ...
    def ip(self) -> str: ...
    def profile(self) -> Any: ...
    def domain_profile(self) -> Any: ...
    def via_alias(self, user: Any) -> bool: ...
    def proved(self, user: Any, method: str) -> None: ...
    def page(self, template: str, **context: Any) -> Page: ...
    def save(self) -> None: ...
    def clear(self) -> None: ...
    def record(
        self, outcome: str, *, reason: str = "", user: Any = None, method: str = "", detail: str = ""
    ) -> Any: ...
    def refuse(self, failure: LoginFailed) -> Answer: ...
    def fail(self, failure: LoginFailed) -> Answer: ...


class Step:
    """One step of the login. Interactive steps show a form; the others run and pass or fail."""

    name: str = ""
    interactive = True
    url_name = "accounts:login"
    offer_template = ""  # set by steps offered on another step's page
    sends_away = False  # it only sends the browser elsewhere (a provider): from the step before, at once

    def applies(self, flow: Flow) -> bool:
        return True

    def offered_on(self, flow: Flow, step_name: str) -> bool:
        """Whether this step's form is offered on the page of `step_name` (a choice instead of it)."""
        return False

    def show(self, flow: Flow, form: Any = None, failure: str | None = None) -> Answer:
        raise NotImplementedError

    def submit(self, flow: Flow, data: Any) -> Answer | None:
        """Handle the step's form: None when it passed, else what to show (a Page, a Json)."""
        raise NotImplementedError

    def run(self, flow: Flow) -> Redirect | None:
        """For steps that need nobody: None when it passed, or a Redirect that ends the flow."""
        raise NotImplementedError


@dataclass(frozen=True)
class Verdict:
    """What a method concluded. `outage` marks a failure on our side, not the person's."""

    user: Any = None
    reason: str = ""
    detail: str = ""
    outage: bool = False
    logout: dict[str, Any] | None = None  # what ending the session at the provider will need (single logout)

    @property
    def ok(self) -> bool:
        return self.user is not None and not self.reason
