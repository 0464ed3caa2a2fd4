"""Passkeys (WebAuthn): a key pair kept by the person's device, which the browser binds to this site.

A look-alike site cannot use a passkey of this portal: the browser refuses to sign for another
origin, and the portal checks the origin and the relying party the signature names. The ceremonies
are py_webauthn's (no hand-written CBOR or COSE). A passkey that verified its user (a PIN, a
fingerprint) counts for both factors of two-step. A staff member of a network-password profile
still needs their directory entry: the portal searches for it (no bind) before letting them in.
"""

import base64
import functools
import json
import re
from types import SimpleNamespace
from urllib.parse import urlsplit

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal import branding
from portal.client import Client

from .. import actions, registry, throttle
from ..login.contract import Json, LoginFailed, Step, StepName
from ..models import MethodKey, Passkey
from ..troubleshooting import Check, Reason
from . import register
from .base import SignInMethod


@functools.cache
def _webauthn():
    """py_webauthn, imported on first use (about 15 MiB a process needs only once someone uses a passkey)."""
    import webauthn
    from webauthn.helpers import exceptions, structs

    return SimpleNamespace(
        generate_registration_options=webauthn.generate_registration_options,
        verify_registration_response=webauthn.verify_registration_response,
        generate_authentication_options=webauthn.generate_authentication_options,
        verify_authentication_response=webauthn.verify_authentication_response,
        options_to_json=webauthn.options_to_json,
        InvalidAuthenticationResponse=exceptions.InvalidAuthenticationResponse,
        WebAuthnException=exceptions.WebAuthnException,
        AuthenticatorSelectionCriteria=structs.AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor=structs.PublicKeyCredentialDescriptor,
        ResidentKeyRequirement=structs.ResidentKeyRequirement,
        UserVerificationRequirement=structs.UserVerificationRequirement,
    )


def bytes_to_base64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def base64url_to_bytes(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


REGISTRATION_KEY = "passkey_registration"


def site(request):
    """(origin, relying-party id) of the page: the host Django accepted (ALLOWED_HOSTS)."""
    origin = f"{request.scheme}://{request.get_host()}"
    return origin, urlsplit(origin).hostname


# Registration, on the Security page.


def registration_options(request, user):
    """The options for the browser's navigator.credentials.create(), as JSON; the challenge is kept in the
    session for `register_passkey`."""
    _origin, rp_id = site(request)
    options = _webauthn().generate_registration_options(
        rp_id=rp_id,
        rp_name=branding.current().name,
        user_id=str(user.pk).encode(),
        user_name=user.email,
        user_display_name=user.get_full_name(),
        authenticator_selection=_webauthn().AuthenticatorSelectionCriteria(
            resident_key=_webauthn().ResidentKeyRequirement.REQUIRED,
            user_verification=_webauthn().UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            _webauthn().PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in user.passkeys.all()
        ],
    )
    request.session[REGISTRATION_KEY] = bytes_to_base64url(options.challenge)
    return json.loads(_webauthn().options_to_json(options))


def register_passkey(request, user, name, credential):
    """Verify the browser's new credential and keep its public key; None when it does not verify."""
    challenge = request.session.pop(REGISTRATION_KEY, None)
    if not challenge:
        return None
    origin, rp_id = site(request)
    try:
        verified = _webauthn().verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
        )
    except (_webauthn().WebAuthnException, ValueError, KeyError, TypeError):
        return None
    return actions.add_passkey(
        user,
        Client.of(request),
        user,
        name=name,
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        user_verified=True,
    )


# Signing in, offered on the password page.


_CREDENTIAL_ID = re.compile(r"[A-Za-z0-9_-]{1,1400}")


def _credential_id(credential):
    """The answer's credential id when it is base64url, as every real one is; else '' (a NUL byte or
    other junk is refused here, before it reaches the database)."""
    try:
        raw_id = json.loads(credential)["rawId"]
    except (ValueError, KeyError, TypeError):
        return ""
    return raw_id if isinstance(raw_id, str) and _CREDENTIAL_ID.fullmatch(raw_id) else ""


def authenticate(request, typed_user, challenge, credential):
    """Check a passkey's answer for the account of the address being signed in (`typed_user`, or None):
    (user, user_verified), or LoginFailed."""
    credential_id = _credential_id(credential)
    if not credential_id:
        raise LoginFailed(
            Reason.PASSKEY_FAILED,
            "the answer holds no credential id",
            user=typed_user,
            method=MethodKey.PASSKEY,
        )
    passkey = Passkey.objects.filter(credential_id=credential_id).first()
    if passkey is None:
        raise LoginFailed(Reason.UNKNOWN_PASSKEY, user=typed_user, method=MethodKey.PASSKEY)
    if typed_user is None or passkey.user_id != typed_user.pk:
        detail = f"the passkey {passkey.pk} belongs to user {passkey.user_id}"
        raise LoginFailed(Reason.PASSKEY_OF_ANOTHER, detail, user=typed_user, method=MethodKey.PASSKEY)
    origin, rp_id = site(request)
    try:
        verified = _webauthn().verify_authentication_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except _webauthn().InvalidAuthenticationResponse as error:
        reason = Reason.PASSKEY_COUNTER if "sign count" in str(error).lower() else Reason.PASSKEY_FAILED
        raise LoginFailed(reason, str(error)[:300], user=typed_user, method=MethodKey.PASSKEY) from None
    except (_webauthn().WebAuthnException, ValueError, KeyError, TypeError) as error:
        detail = f"{type(error).__name__}: {error}"[:300]
        raise LoginFailed(Reason.PASSKEY_FAILED, detail, user=typed_user, method=MethodKey.PASSKEY) from None
    Passkey.objects.filter(pk=passkey.pk).update(
        sign_count=verified.new_sign_count, last_used_at=timezone.now()
    )
    return typed_user, verified.user_verified


def _still_in_directory(user):
    """A staff member of a network-password profile keeps their passkey only while the directory keeps
    them: a search, no bind."""
    if user.is_external or not user.profile().allows(MethodKey.NETWORK):
        return
    found = registry.get(MethodKey.NETWORK).still_in_directory(user.email)
    if found is None:
        raise LoginFailed(Reason.DIRECTORY_UNAVAILABLE, user=user, method=MethodKey.PASSKEY, outage=True)
    if not found:
        raise LoginFailed(
            Reason.DIRECTORY_USER_NOT_FOUND,
            "passkey of a person no longer in the directory",
            user=user,
            method=MethodKey.PASSKEY,
        )


class PasskeyStep(Step):
    """'Sign in with a passkey', offered on the password page: the device proves who it is."""

    name = StepName.PASSKEY
    offer_template = "accounts/_offer_passkey.html"

    def applies(self, flow):
        return False  # never a step of its own: only offered on the password page

    def offered_on(self, flow, step_name):
        if step_name != StepName.VERIFY or flow.state.user_id is not None:
            return False
        # The domain's profile, not the account's: the page must not tell which addresses have one.
        return bool(flow.state.scope) or flow.domain_profile().allows(MethodKey.PASSKEY)

    def submit(self, flow, data):
        _origin, rp_id = site(flow.request)
        if data.get("action") == "options":
            # Discoverable credentials: the page names none, so it tells nobody whether the address has one.
            options = _webauthn().generate_authentication_options(
                rp_id=rp_id, user_verification=_webauthn().UserVerificationRequirement.REQUIRED
            )
            flow.state.challenge = bytes_to_base64url(options.challenge)
            return Json(json.loads(_webauthn().options_to_json(options)))
        challenge, flow.state.challenge = flow.state.challenge, ""
        if not challenge:
            raise LoginFailed(
                Reason.PASSKEY_FAILED, "no challenge of this login awaits an answer", method=MethodKey.PASSKEY
            )
        address, ip, owner = flow.state.email, flow.ip(), flow.account()
        locked = LoginFailed(Reason.LOCKED_OUT, "at the passkey", user=owner, method=MethodKey.PASSKEY)
        with throttle.guess(address, ip, owner, locked=locked) as attempt:
            user, user_verified = authenticate(flow.request, owner, challenge, data.get("credential", ""))
            attempt.right()  # authenticate raises for a passkey that does not verify
        if not user.is_active:
            raise LoginFailed(Reason.INACTIVE, user=user, method=MethodKey.PASSKEY)
        _still_in_directory(user)
        flow.proved(user, MethodKey.PASSKEY)
        flow.state.both_factors = bool(user_verified)
        return None


def remove(user, client, passkey_id):
    """A person removes one of their own passkeys; True when one went (an id that is not one: False)."""
    if not str(passkey_id).isdigit():
        return False
    return actions.remove_own_passkey(user, client, user, int(passkey_id))


class PasskeyMethod(SignInMethod):
    """Passkeys: no password to phish, forget or reuse."""

    key = MethodKey.PASSKEY
    service_label = gettext_lazy("Passkeys")

    def steps(self):
        return [PasskeyStep()]

    def doctor_check(self, d):
        label = _("Passkeys")
        if d.user is None:
            return None
        keys = list(d.user.passkeys.all())
        if not keys:
            return Check(label, _("None yet: the person adds one on their Security page after signing in."))
        d.working_methods.append(self.key)
        names = ", ".join(p.name for p in keys)
        return Check(label, _("%(count)d: %(names)s.") % {"count": len(keys), "names": names})


register(PasskeyMethod())
