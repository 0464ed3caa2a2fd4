"""The login engine: the walk through the steps (the contract they follow is accounts.login.contract).

Nobody is logged in until every step has passed; between requests the state lives in the session
for `LOGIN_STATE_SECONDS`. A step is shown (it needs the person), submitted (its form), or run (it
needs nobody). Some steps are offered on another step's page (a passkey, an emailed code on the
password page): the engine takes their form while that page is the current one.
"""

import copy
import functools
import time

from django.conf import settings
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from portal.client import client_ip
from portal.logging import without_link_tokens

from ..models import AuthProfile, LoginAttempt, User
from ..troubleshooting import is_unsupported_browser
from .contract import (
    OFFER_PASSKEY,
    SIGNED_IN_AT,
    Json,
    LoginFailed,
    LoginState,
    Page,
    Redirect,
    Step,
    StepName,
    recently_signed_in,
)
from .failure import failure_context
from .steps import all_steps

STATE_KEY = "login_flow"
__all__ = [
    "OFFER_PASSKEY", "SIGNED_IN_AT", "Json", "LoginFailed", "LoginFlow", "LoginState", "Page", "Redirect",
    "Step", "recently_signed_in", "start_scoped_login",
]  # fmt: skip


@functools.cache
def _steps():
    return all_steps()


class LoginFlow:
    """Walks the steps for one request; the state between requests lives in the session."""

    def __init__(self, request):
        self.request = request
        stored = request.session.get(STATE_KEY)
        if not stored or time.time() - stored.get("started", 0) > settings.LOGIN_STATE_SECONDS:
            stored = self.new_state().as_session()
        self.as_stored = stored  # what the session holds: a page that changes nothing writes nothing
        self.state = LoginState.from_session(copy.deepcopy(stored))

    @property
    def steps(self):
        return _steps()

    def new_state(self):
        return LoginState(started=time.time(), url=self.address_used())

    def address_used(self):
        """The page's address as the person used it, for the troubleshooting facts; a link token is cut
        short (the session and the login log keep no usable link)."""
        return without_link_tokens(self.request.build_absolute_uri())

    def clear(self):
        self.request.session.pop(STATE_KEY, None)

    def save(self):
        self.request.session[STATE_KEY] = self.state.as_session()

    def save_if_changed(self):
        if self.state.as_session() != self.as_stored:
            self.save()

    def restart(self, keep_email=False):
        """Back to the start; after a failure, back to the password step of the same address."""
        old = self.state
        self.state = self.new_state()
        if keep_email and old.email:
            self.state.email, self.state.passed = old.email, [StepName.IDENTIFY]
            self.state.next, self.state.scope = old.next, old.scope
            if time.time() - old.started < settings.LOGIN_STATE_SECONDS / 2:
                # Still fresh: the same state again, so a refusal after a refusal writes no session.
                self.state.started = old.started
        elif old.next and not old.scope:
            self.state.next = old.next

    def user(self):
        """The user the first factor proved (looked up once a request)."""
        if getattr(self, "_user", None) is None or self._user.pk != self.state.user_id:
            account = getattr(self, "_account", (None, None))[1]
            if account is not None and account.pk == self.state.user_id:
                self._user = account  # the same row as the address's: no second query
            else:
                self._user = User.objects.with_portal_access().get(pk=self.state.user_id)
        return self._user

    def proved(self, user, method):
        """The first factor proved `user`: the method's own copy is kept, since it may have just changed
        (a directory login mirrors the portal group)."""
        self.state.user_id, self.state.method = user.pk, method
        self._user = user

    def account(self):
        """The account of the address typed, by primary address or alias, or None (once a request)."""
        email = self.state.email
        if getattr(self, "_account", (None, None))[0] != email:
            self._account = (email, User.objects.find_by_address(email)[0])
        return self._account[1]

    def ip(self):
        return client_ip(self.request)

    def profile(self):
        """The profile of the address typed (kept for this request)."""
        email = self.state.email
        if getattr(self, "_profile", (None, None))[0] != email:
            user = self.account()
            self._profile = (email, user.profile() if user else AuthProfile.objects.for_address(email))
        return self._profile[1]

    def domain_profile(self):
        """The profile of the address's domain (or the default): what a page shown before the person is
        proved may depend on, so that it tells nothing of the account."""
        return AuthProfile.objects.for_address(self.state.email)

    def via_alias(self, user):
        return bool(user and self.state.email and self.state.email != user.email)

    def current(self):
        return next(s for s in self.steps if s.name not in self.state.passed and s.applies(self))

    def offers(self, step_name):
        """The steps offered on the page of `step_name`."""
        return [s for s in self.steps if s.offered_on(self, step_name)]

    def page(self, template, **context):
        current = self.current()
        context.update(
            step=current.name,
            email=self.state.email,
            fixed_email=bool(self.state.scope),
            unsupported_browser=is_unsupported_browser(self.request.META.get("HTTP_USER_AGENT")),
            offers=[s.offer_template for s in self.offers(current.name)],
        )
        return Page(template, context)

    def remember_next(self):
        nxt = self.request.GET.get("next", "")
        if nxt and url_has_allowed_host_and_scheme(
            nxt, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        ):
            self.state.next = nxt

    def handle(self):
        """The one entry point: show the current step, or take its form and move on."""
        if self.request.method != "POST":
            if self.request.GET.get("restart"):
                self.restart()
            if not self.state.passed:
                self.state.url = self.address_used()
                self.remember_next()
            step = self.current()
            if self.request.path != reverse(step.url_name):
                shown = Redirect(reverse(step.url_name))
            else:
                shown = step.show(self)  # which may note something (the device being enrolled)
            if not (self.state.passed or self.state.next):
                self.clear()  # an anonymous first visit creates no session
            else:
                self.save_if_changed()
            return shown
        current = self.current()
        posted = self.request.POST.get("step")
        step = (
            current
            if posted == current.name
            else next(iter(s for s in self.offers(current.name) if s.name == posted), None)
        )
        if step is None or self.request.path != reverse(current.url_name):
            # A stale form (the back button, a second tab): show where the login really is.
            return Redirect(reverse(current.url_name))
        return self.take(step, self.request.POST)

    def answer(self, step_name, data):
        """An answer from outside for the current step, at an address of its own (an OpenID provider
        sends the browser back with its code): taken as the step's form; anything else is stale."""
        current = self.current()
        if current.name != step_name:
            return Redirect(reverse(current.url_name))
        return self.take(current, data)

    def take(self, step, data):
        """Submit a step's form, then run the steps that need nobody; show what comes next."""
        try:
            result = step.submit(self, data)
            if result is not None:
                self.save()  # a step may have moved on and still have something to show
                return result
            self.state.passed.append(step.name)
            while not (step := self.current()).interactive:
                result = step.run(self)
                if result is not None:
                    return result
                self.state.passed.append(step.name)
        except LoginFailed as failure:
            return self.fail(failure)
        if reverse(step.url_name) == self.request.path or step.sends_away:
            shown = step.show(self)  # the next page at once, not a redirect to it: a request less
            self.save()
            return shown
        self.save()
        return Redirect(reverse(step.url_name))

    def record(self, outcome, *, reason="", user=None, method="", detail=""):
        return LoginAttempt.record(
            self.request,
            email=self.state.email,
            outcome=outcome,
            reason=reason,
            user=user,
            method=method,
            detail=detail,
            alias_used=self.via_alias(user),
            url=self.state.url,
        )

    def refuse(self, failure):
        """Record why and give the generic words and a reference, staying on the same step (a mistyped
        emailed code may be typed again while the code has tries left)."""
        attempt = self.record(
            LoginAttempt.Outcome.FAILURE,
            reason=failure.reason,
            user=failure.user,
            method=failure.method,
            detail=failure.detail,
        )
        sender = (self.state.scope or {}).get("sender") or ""
        return failure_context(attempt, failure.outage, sender)

    def fail(self, failure):
        """Record why, then show the password step again with the generic words and a reference."""
        attempt = self.record(
            LoginAttempt.Outcome.FAILURE,
            reason=failure.reason,
            user=failure.user,
            method=failure.method,
            detail=failure.detail,
        )
        self.restart(keep_email=True)
        self.save_if_changed()
        sender = (self.state.scope or {}).get("sender") or ""
        return self.current().show(self, failure=failure_context(attempt, failure.outage, sender))


def start_scoped_login(request, *, email, sender, next_url):
    """Begin a login for one fixed address, as a message link does; its sender is the contact.

    Only a scoped login lets an external recipient in, and only as that address.
    """
    flow = LoginFlow(request)
    flow.state = flow.new_state()
    flow.state.email, flow.state.passed, flow.state.next = email, [StepName.IDENTIFY], next_url
    flow.state.scope = {"email": email, "sender": sender}
    flow.save()
    return Redirect(reverse("accounts:login"))
