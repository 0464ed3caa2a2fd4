"""The login's own steps: identify, the password, permit, two-step, backup codes, forced change, done.

The sign-in methods add theirs (single sign-on before the password, an emailed code, a passkey
offered on the password page); `all_steps()` puts them in order.
"""

import time

import django_otp
from django.conf import settings
from django.contrib.auth import login
from django.urls import reverse
from django_otp.models import Device

from portal.client import Client

from .. import actions, registry, throttle, twostep
from ..forms import ForcedPasswordChangeForm, IdentifyForm, PasswordForm, VerificationCodeForm
from ..models import AuthProfile, LoginAttempt, MethodKey, User
from .contract import OFFER_PASSKEY, SIGNED_IN_AT, LoginFailed, Redirect, Step, StepName, Verdict

# The session remembers which backend loaded the user: Django's, for cloud passwords, whatever proved them.
SESSION_BACKEND = "accounts.methods.cloud.CloudPasswordBackend"

Reason = LoginAttempt.Reason


class Identify(Step):
    """Identifier first: the address decides the profile and so the next step."""

    name = StepName.IDENTIFY

    def show(self, flow, form=None, failure=None):
        form = form or IdentifyForm(initial={"email": flow.state.email})
        return flow.page("accounts/login_identify.html", form=form, failure=failure)

    def submit(self, flow, data):
        form = IdentifyForm(data)
        if not form.is_valid():
            return self.show(flow, form=form)
        flow.state.email = form.cleaned_data["email"]
        return None


class Verify(Step):
    """The password step, the same for every address, known or not (unless a method proved who it is)."""

    name = StepName.VERIFY

    def applies(self, flow):
        return flow.state.user_id is None

    def show(self, flow, form=None, failure=None):
        form = form or PasswordForm()
        return flow.page("accounts/login_password.html", form=form, failure=failure)

    def submit(self, flow, data):
        form = PasswordForm(data)
        if not form.is_valid():
            return self.show(flow, form=form)
        address, ip = flow.state.email, flow.ip()
        owner = flow.account()
        # Refused before any hashing: a locked address costs the attacker nothing to learn.
        with throttle.guess(address, ip, owner, locked=LoginFailed(Reason.LOCKED_OUT, user=owner)) as attempt:
            verdict, method = check_password(address, form.cleaned_data["password"], owner)
            attempt.right(verdict.ok or verdict.outage)
        if not verdict.ok:
            raise LoginFailed(
                verdict.reason, verdict.detail, user=verdict.user, method=method, outage=verdict.outage
            )
        flow.proved(verdict.user, method)
        return None


class Permit(Step):
    """Staff need the portal permission; external recipients come only through a message link."""

    name = StepName.PERMIT
    interactive = False

    def run(self, flow):
        user = flow.user()
        if user.is_external:
            scope = flow.state.scope or {}
            if not scope or scope["email"] != flow.state.email:
                raise LoginFailed(Reason.WRONG_URL, "external recipient outside a message link", user=user)
        elif not user.may_use_portal():
            raise LoginFailed(Reason.NO_PERMISSION, "no access_portal permission", user=user)
        return None


class TwoStep(Step):
    """A code from the authenticator app or a backup code; enrolment first when there is no app."""

    name = StepName.TWO_STEP

    def applies(self, flow):
        """Where the profile requires it, or the person chose to set it up: a device is a device. A
        passkey that verified its user was both factors already."""
        if flow.state.both_factors:
            return False
        user = flow.user()
        return user.profile().require_two_step or twostep.is_enrolled(user)

    def show(self, flow, form=None, failure=None):
        form = form or VerificationCodeForm()
        user = flow.user()
        if twostep.is_enrolled(user):
            return flow.page("accounts/two_step_verify.html", form=form, failure=failure)
        device = twostep.start_enrolment(user, flow.state.enrol_device)
        flow.state.enrol_device = device.pk
        return flow.page("accounts/two_step_enrol.html", **twostep.enrolment_page(device, form))

    def submit(self, flow, data):
        form = VerificationCodeForm(data)
        if not form.is_valid():
            return self.show(flow, form=form)
        user, address, ip = flow.user(), flow.state.email, flow.ip()
        locked = LoginFailed(
            Reason.LOCKED_OUT, "at the two-step code", user=user, method=LoginAttempt.TWO_STEP
        )
        code = form.cleaned_data["code"]
        with throttle.guess(address, ip, user, locked=locked) as attempt:
            if not twostep.is_enrolled(user):
                return self.enrol(flow, form, attempt, code)
            device = twostep.verify(user, code)
            attempt.right(device is not None)
        if device is None:
            raise LoginFailed(Reason.TWO_STEP_FAILED, user=user, method=LoginAttempt.TWO_STEP)
        flow.state.otp_device = device.persistent_id
        return None

    def enrol(self, flow, form, attempt, code):
        """The first code from a new app confirms it; then the backup codes, shown once."""
        device = twostep.start_enrolment(flow.user(), flow.state.enrol_device)
        confirmed, codes = actions.set_up_two_step(flow.user(), Client.of(flow.request), device, code)
        if not confirmed:
            form.add_error("code", twostep.WRONG_CODE)
            return self.show(flow, form=form)
        attempt.right()
        flow.state.otp_device, flow.state.backup_codes_pending = device.persistent_id, True
        flow.state.passed.append(self.name)
        return flow.page("accounts/two_step_backup_codes.html", codes=codes)


class BackupCodes(Step):
    """Right after enrolment: the backup codes were shown once; the person says they kept them."""

    name = StepName.BACKUP_CODES

    def applies(self, flow):
        return flow.state.backup_codes_pending

    def show(self, flow, form=None, failure=None):
        return flow.page("accounts/two_step_backup_codes.html", codes=None)

    def submit(self, flow, data):
        flow.state.backup_codes_pending = False
        return None


class ForcedChange(Step):
    """A temporary password (or an administrator's 'must change') is replaced before anything else."""

    name = StepName.CHANGE
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
        user = flow.user()
        actions.change_own_password(user, Client.of(flow.request), user, form.cleaned_data["new_password1"])
        return None


class Done(Step):
    """A new session (the old key is dead), its length from the profile, then a safe `next`."""

    name = StepName.DONE
    interactive = False

    def run(self, flow):
        user, request, state = flow.user(), flow.request, flow.state
        login(request, user, backend=SESSION_BACKEND)
        if state.otp_device:
            django_otp.login(request, Device.from_persistent_id(state.otp_device))
        request.session.set_expiry(user.profile().session_minutes * 60)
        request.session[SIGNED_IN_AT] = time.time()
        if state.method != MethodKey.PASSKEY and (state.scope or user.profile().allows(MethodKey.PASSKEY)):
            request.session[OFFER_PASSKEY] = not user.passkeys.exists()
        flow.record(
            LoginAttempt.Outcome.SUCCESS,
            reason=Reason.ALIAS_USED if flow.via_alias(user) else "",
            user=user,
            method=state.method,
        )
        flow.clear()
        return Redirect(state.next or reverse(settings.LOGIN_REDIRECT_URL))


def check_password(address, password, user=throttle.UNKNOWN):
    """Try the profile's password methods in order: (first success or most telling failure, method).
    `user`: the address's account (or None), when the caller has looked it up already."""
    if user is throttle.UNKNOWN:
        user, _alias = User.objects.find_by_address(address)
    profile = user.profile() if user else AuthProfile.objects.for_address(address)
    candidates = registry.password_methods()
    verdicts = []
    for key in profile.method_list():
        if key in candidates:
            verdict = candidates[key].verify(address, user, password)
            if verdict.ok:
                return verdict, key
            verdicts.append((key, verdict))
    if not verdicts:
        # The profile allows no password method: refuse at the cost of one hash, like the rest.
        candidates[MethodKey.CLOUD].verify(address, None, password)
        return Verdict(user=user, reason=Reason.METHOD_NOT_ALLOWED, detail=profile.methods), ""
    key, first = verdicts[0]
    detail = "; ".join(f"{k}: {v.reason}" for k, v in verdicts) if len(verdicts) > 1 else first.detail
    return Verdict(user=first.user or user, reason=first.reason, detail=detail, outage=first.outage), key


def all_steps():
    """The login's steps in order: the address, what the methods add, the password, then the rest."""
    added = [step for method in registry.all_methods() for step in method.steps()]
    return [Identify(), *added, Verify(), Permit(), TwoStep(), BackupCodes(), ForcedChange(), Done()]
