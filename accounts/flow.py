"""The login state machine: a list of steps kept in the session; nobody is logged in until all pass.

Steps: identify (the address), verify (a password method of the profile, within the guessing
limits), permit (may this user sign in here), two-step (a code, or enrolment and backup codes),
forced change (a temporary password is replaced), done (a new session). Where the profile says
SAML, single sign-on (the IdP's signed answer) takes the place of the password.
"""

import copy
import time
from dataclasses import dataclass, field

import django_otp
from django.conf import settings
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_otp.models import Device

from portal.client import client_ip
from portal.logging import without_link_tokens

from . import passwords, throttle, twostep
from .backends import Verdict, password_methods, saml
from .backends.cloud import BACKEND as CLOUD_BACKEND
from .forms import ForcedPasswordChangeForm, IdentifyForm, PasswordForm, VerificationCodeForm
from .models import AuthProfile, LoginAttempt, User
from .troubleshooting import describe_browser, is_unsupported_browser

STATE_KEY = "login_flow"
# The exact words of the troubleshooting articles, in English; other languages carry their translation.
GENERIC_FAILURE = gettext_noop(
    "Invalid username, password or permissions. Please check you are using the correct URL."
)


def generic_failure_message():
    return _(GENERIC_FAILURE)


def outage_message():
    return _(
        "Signing in with this method is temporarily unavailable because of a problem on our "
        "side. Please try again in a few minutes."
    )


class LoginFailed(Exception):
    """A step refused the login; `reason` is the audit code, never shown to the person."""

    def __init__(self, reason, detail="", *, user=None, method="", outage=False):
        super().__init__(reason)
        self.reason, self.detail, self.user = reason, detail, user
        self.method, self.outage = method, outage


@dataclass
class Page:
    """A step needs the person: render this template."""

    template: str
    context: dict = field(default_factory=dict)

    def respond(self, request):
        return render(request, self.template, self.context)


@dataclass
class Redirect:
    url: str

    def respond(self, request):
        return redirect(self.url)


class Step:
    """One step of the login. Interactive steps show a form; the others run and pass or fail."""

    name = ""
    interactive = True
    url_name = "accounts:login"

    def applies(self, flow):
        return True

    def show(self, flow, form=None, failure=None):
        raise NotImplementedError

    def submit(self, flow, data):
        """Handle the step's form: None when it passed, else a Page to show again."""
        raise NotImplementedError

    def run(self, flow):
        """For steps that need nobody: None when it passed, or a Redirect that ends the flow."""
        raise NotImplementedError


class Identify(Step):
    """Identifier first: the address decides the profile and so the next step."""

    name = "identify"

    def show(self, flow, form=None, failure=None):
        form = form or IdentifyForm(initial={"email": flow.state.get("email", "")})
        return flow.page("accounts/login_identify.html", form=form, failure=failure)

    def submit(self, flow, data):
        form = IdentifyForm(data)
        if not form.is_valid():
            return self.show(flow, form=form)
        flow.state["email"] = form.cleaned_data["email"]
        return None


class SingleSignOn(Step):
    """Where the profile puts SAML first: the organisation's identity provider signs the person in.

    The address typed chose the profile, so a known and an unknown address go the same way.
    """

    name = "sso"
    url_name = "accounts:sso"

    def applies(self, flow):
        if not saml.enabled() or flow.state.get("sso_declined"):
            return False  # no lookup of the profile on every login step where SSO is off
        return flow.profile().method_list()[:1] == ["saml"]

    def show(self, flow, form=None, failure=None):
        password_too = flow.profile().allows("cloud")
        if failure is None and (flow.request.GET.get("start") or not password_too):
            return self.to_identity_provider(flow)
        return flow.page("accounts/login_sso.html", failure=failure, password_too=password_too)

    def to_identity_provider(self, flow):
        try:
            request_id, url = saml.start()
        except saml.Unavailable as error:
            return flow.fail(LoginFailed("saml_error", str(error), method="saml", outage=True))
        flow.state["saml_request"] = request_id  # only the answer to this request will do
        flow.save()
        return Redirect(url)

    def submit(self, flow, data):
        if data.get("SAMLResponse"):
            request_id = flow.state.pop("saml_request", None)
            if not request_id:
                raise LoginFailed("saml_error", "no request of this login awaits an answer", method="saml")
            verdict = saml.verify(data["SAMLResponse"], request_id, flow.state["email"])
            if not verdict.ok:
                raise LoginFailed(
                    verdict.reason, verdict.detail, user=verdict.user, method="saml", outage=verdict.outage
                )
            flow.state.update(user_id=verdict.user.pk, method="saml")
            return None
        if data.get("choice") == "password" and flow.profile().allows("cloud"):
            flow.state["sso_declined"] = True
            return None
        return self.show(flow)


class Verify(Step):
    """The password step, the same for every address, known or not."""

    name = "verify"

    def applies(self, flow):
        return flow.state.get("method") != "saml"

    def show(self, flow, form=None, failure=None):
        form = form or PasswordForm()
        return flow.page("accounts/login_password.html", form=form, failure=failure)

    def submit(self, flow, data):
        form = PasswordForm(data)
        if not form.is_valid():
            return self.show(flow, form=form)
        address, ip = flow.state["email"], flow.ip()
        if not throttle.reserve(address, ip):
            # Refused before any hashing: a locked address costs the attacker nothing to learn.
            raise LoginFailed("locked_out", user=User.objects.find_by_address(address)[0])
        verdict, method = check_password(address, form.cleaned_data["password"])
        if verdict.ok or verdict.outage:
            throttle.give_back(address, ip)
        if not verdict.ok:
            raise LoginFailed(
                verdict.reason, verdict.detail, user=verdict.user, method=method, outage=verdict.outage
            )
        flow.state.update(user_id=verdict.user.pk, method=method)
        return None


class Permit(Step):
    """Staff need the portal permission; external recipients come only through a message link."""

    name = "permit"
    interactive = False

    def run(self, flow):
        user = flow.user()
        if user.is_external:
            scope = flow.state.get("scope") or {}
            if not scope or scope["email"] != flow.state.get("email"):
                raise LoginFailed("wrong_url", "external recipient outside a message link", user=user)
        elif not user.may_use_portal():
            raise LoginFailed("no_permission", "no access_portal permission", user=user)
        return None


class TwoStep(Step):
    """A code from the authenticator app or a backup code; enrolment first when there is no app."""

    name = "two_step"

    def applies(self, flow):
        """Where the profile requires it, or the person chose to set it up: a device is a device."""
        user = flow.user()
        return user.profile().require_two_step or twostep.is_enrolled(user)

    def show(self, flow, form=None, failure=None):
        form = form or VerificationCodeForm()
        user = flow.user()
        if twostep.is_enrolled(user):
            return flow.page("accounts/two_step_verify.html", form=form, failure=failure)
        device = twostep.start_enrolment(user, flow.state.get("enrol_device"))
        flow.state["enrol_device"] = device.pk
        return flow.page(
            "accounts/two_step_enrol.html",
            form=form,
            qr_svg=twostep.qr_svg(device),
            secret=twostep.secret_text(device),
        )

    def submit(self, flow, data):
        form = VerificationCodeForm(data)
        if not form.is_valid():
            return self.show(flow, form=form)
        user, address, ip = flow.user(), flow.state["email"], flow.ip()
        if not throttle.reserve(address, ip):
            raise LoginFailed("locked_out", "at the two-step code", user=user, method="two_step")
        code = form.cleaned_data["code"]
        if not twostep.is_enrolled(user):
            device = twostep.start_enrolment(user, flow.state.get("enrol_device"))
            if not twostep.confirm_enrolment(device, code):
                form.add_error("code", _("That code is not right. Check that your phone's clock is correct."))
                return self.show(flow, form=form)
            throttle.give_back(address, ip)
            flow.state.update(otp_device=device.persistent_id, backup_codes_pending=True)
            flow.state["passed"].append(self.name)
            codes = twostep.new_backup_codes(user)
            return flow.page("accounts/two_step_backup_codes.html", codes=codes)
        device = twostep.verify(user, code)
        if device is None:
            raise LoginFailed("two_step_failed", user=user, method="two_step")
        throttle.give_back(address, ip)
        flow.state["otp_device"] = device.persistent_id
        return None


class BackupCodes(Step):
    """Right after enrolment: the backup codes were shown once; the person says they kept them."""

    name = "backup_codes"

    def applies(self, flow):
        return flow.state.get("backup_codes_pending", False)

    def show(self, flow, form=None, failure=None):
        return flow.page("accounts/two_step_backup_codes.html", codes=None)

    def submit(self, flow, data):
        flow.state["backup_codes_pending"] = False
        return None


class ForcedChange(Step):
    """A temporary password (or an administrator's 'must change') is replaced before anything else."""

    name = "change"
    url_name = "accounts:password_change"

    def applies(self, flow):
        return flow.user().must_change_password

    def show(self, flow, form=None, failure=None):
        form = form or ForcedPasswordChangeForm(flow.user())
        return flow.page("accounts/password_change.html", form=form, forced=True)

    def submit(self, flow, data):
        form = ForcedPasswordChangeForm(flow.user(), data)
        if not form.is_valid():
            return self.show(flow, form=form)
        passwords.finish_password_change(flow.user(), form.cleaned_data["new_password1"])
        return None


class Done(Step):
    """A new session (the old key is dead), its length from the profile, then a safe `next`."""

    name = "done"
    interactive = False

    def run(self, flow):
        user, request, state = flow.user(), flow.request, flow.state
        login(request, user, backend=CLOUD_BACKEND)
        if state.get("otp_device"):
            django_otp.login(request, Device.from_persistent_id(state["otp_device"]))
        request.session.set_expiry(user.profile().session_minutes * 60)
        flow.record(
            LoginAttempt.Outcome.SUCCESS,
            reason="alias_used" if flow.via_alias(user) else "",
            user=user,
            method=state.get("method", ""),
        )
        flow.clear()
        return Redirect(state.get("next") or reverse(settings.LOGIN_REDIRECT_URL))


def profile_for(address):
    """The profile that decides how an address signs in: its user's, else its domain's."""
    user, _alias = User.objects.find_by_address(address)
    return user, user.profile() if user else AuthProfile.objects.for_address(address)


def check_password(address, password):
    """Try the profile's password methods in order: (first success or most telling failure, method)."""
    user, profile = profile_for(address)
    methods = password_methods()
    verdicts = []
    for name in profile.method_list():
        if name in methods:
            verdict = methods[name].verify(address, user, password)
            if verdict.ok:
                return verdict, name
            verdicts.append((name, verdict))
    if not verdicts:
        # The profile allows no password method: refuse at the cost of one hash, like the rest.
        methods["cloud"].verify(address, None, password)
        return Verdict(user=user, reason="method_not_allowed", detail=profile.methods), ""
    name, first = verdicts[0]
    detail = "; ".join(f"{n}: {v.reason}" for n, v in verdicts) if len(verdicts) > 1 else first.detail
    return Verdict(user=first.user or user, reason=first.reason, detail=detail, outage=first.outage), name


class LoginFlow:
    """Walks the steps for one request; the state between requests lives in the session."""

    steps = [Identify(), SingleSignOn(), Verify(), Permit(), TwoStep(), BackupCodes(), ForcedChange(), Done()]

    def __init__(self, request):
        self.request = request
        state = request.session.get(STATE_KEY)
        if not state or time.time() - state.get("started", 0) > settings.LOGIN_STATE_SECONDS:
            state = self.new_state()
        self.state = copy.deepcopy(state)
        self.as_stored = state  # what the session holds: a page that changes nothing writes nothing

    def new_state(self):
        return {"passed": [], "started": time.time(), "url": self.address_used()}

    def address_used(self):
        """The page's address as the person used it, for the troubleshooting facts; a link token is cut
        short (the session and the login log keep no usable link)."""
        return without_link_tokens(self.request.build_absolute_uri())

    def clear(self):
        self.request.session.pop(STATE_KEY, None)

    def save(self):
        self.request.session[STATE_KEY] = self.state

    def restart(self, keep_email=False):
        """Back to the start; after a failure, back to the password step of the same address."""
        kept = {k: self.state[k] for k in ("next", "scope") if k in self.state}
        email = self.state.get("email") if keep_email else None
        self.state = self.new_state()
        if email:
            self.state.update(email=email, passed=["identify"], **kept)
        elif "next" in kept and "scope" not in kept:
            self.state["next"] = kept["next"]

    def user(self):
        if getattr(self, "_user", None) is None or self._user.pk != self.state["user_id"]:
            self._user = User.objects.get(pk=self.state["user_id"])
        return self._user

    def ip(self):
        return client_ip(self.request)

    def profile(self):
        """The profile of the address typed (kept for this request)."""
        email = self.state.get("email", "")
        if getattr(self, "_profile", (None, None))[0] != email:
            self._profile = (email, profile_for(email)[1])
        return self._profile[1]

    def via_alias(self, user):
        return bool(user and self.state.get("email") and self.state["email"] != user.email)

    def current(self):
        return next(s for s in self.steps if s.name not in self.state["passed"] and s.applies(self))

    def page(self, template, **context):
        context.update(
            step=self.current().name,
            email=self.state.get("email", ""),
            fixed_email=bool(self.state.get("scope")),
            unsupported_browser=is_unsupported_browser(self.request.META.get("HTTP_USER_AGENT")),
        )
        return Page(template, context)

    def remember_next(self):
        nxt = self.request.GET.get("next", "")
        if nxt and url_has_allowed_host_and_scheme(
            nxt, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        ):
            self.state["next"] = nxt

    def handle(self):
        """The one entry point: show the current step, or take its form and move on."""
        if self.request.method != "POST":
            if self.request.GET.get("restart"):
                self.restart()
            if not self.state["passed"]:
                self.state["url"] = self.address_used()
                self.remember_next()
            step = self.current()
            if self.request.path != reverse(step.url_name):
                shown = Redirect(reverse(step.url_name))
            else:
                shown = step.show(self)  # which may note something (the device being enrolled)
            if not (self.state["passed"] or "next" in self.state):
                self.clear()  # an anonymous first visit creates no session
            elif self.state != self.as_stored:
                self.save()
            return shown
        step = self.current()
        if self.request.POST.get("step") != step.name or self.request.path != reverse(step.url_name):
            # A stale form (the back button, a second tab): show where the login really is.
            return Redirect(reverse(step.url_name))
        try:
            result = step.submit(self, self.request.POST)
            if result is not None:
                self.save()  # a step may have moved on and still have something to show
                return result
            self.state["passed"].append(step.name)
            while not (step := self.current()).interactive:
                result = step.run(self)
                if result is not None:
                    return result
                self.state["passed"].append(step.name)
        except LoginFailed as failure:
            return self.fail(failure)
        self.save()
        return Redirect(reverse(self.current().url_name))

    def record(self, outcome, *, reason="", user=None, method="", detail=""):
        return LoginAttempt.record(
            self.request,
            email=self.state.get("email", ""),
            outcome=outcome,
            reason=reason,
            user=user,
            method=method,
            detail=detail,
            alias_used=self.via_alias(user),
            url=self.state.get("url", ""),
        )

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
        self.save()
        return self.current().show(self, failure=self.failure_context(attempt, failure.outage))

    def failure_context(self, attempt, outage):
        """What the person sees and passes on to support; the same for every reason."""
        scope = self.state.get("scope") or {}
        return {
            "message": outage_message() if outage else generic_failure_message(),
            "reference": attempt.reference,
            "url": attempt.url,
            "email": attempt.email_entered,
            "at": timezone.localtime(attempt.at),
            "browser": describe_browser(attempt.user_agent),
            **whom_to_contact(attempt.email_entered, scope.get("sender") or ""),
        }


def whom_to_contact(address, sender):
    """Who helps: the sender, for a message link; the administrator, for an address of the organisation's
    own domains; else both rules. Decided by the domain, never by an account, so it tells nobody who
    has one."""
    if sender:
        return {"contact": "sender", "sender": sender}
    profile = AuthProfile.objects.for_address(address)
    return {
        "contact": "staff" if profile.names_domain_of(address) else "either",
        "administrator": profile.contact(),
    }


def start_scoped_login(request, *, email, sender, next_url):
    """Begin a login for one fixed address, as a message link does; its sender is the contact.

    Only a scoped login lets an external recipient in, and only as that address.
    """
    flow = LoginFlow(request)
    flow.state = flow.new_state()
    flow.state.update(
        email=email, passed=["identify"], next=next_url, scope={"email": email, "sender": sender}
    )
    flow.save()
    return Redirect(reverse("accounts:login"))


def confirm_password(request, user, password):
    """A signed-in person types their password again before a sensitive change (same limits)."""
    ip = client_ip(request)
    if not throttle.reserve(user.email, ip):
        return False
    verdict, _method = check_password(user.email, password)
    if verdict.ok or verdict.outage:
        throttle.give_back(user.email, ip)
    return verdict.ok and verdict.user.pk == user.pk
