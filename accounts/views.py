"""Sign-in and password pages: thin views over `accounts.login` and `accounts.passwords`."""

import functools
import logging
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.client import Client, client_ip

from . import actions, registry, sessions, twostep
from .forms import (
    ConfirmPasswordForm,
    ForgotPasswordForm,
    PasskeyForm,
    PortalPasswordChangeForm,
    VerificationCodeForm,
)
from .login import OFFER_PASSKEY, SIGNED_IN_AT, LoginFlow, confirm_password, recently_signed_in
from .methods import oidc, passkey, saml
from .models import MethodKey
from .passwords import password_help
from .troubleshooting import BrowserStatus, browser_matrix, browser_support

log = logging.getLogger("portal.accounts")


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    return _leading_to_providers(LoginFlow(request).handle().respond(request))


def _leading_to_providers(response):
    """A login form may lead on to an identity provider's page: the CSP's form-action names them."""
    origins = [o for method in registry.all_methods() if method.enabled() for o in method.form_origins()]
    if origins:
        response._csp_update = {"form-action": sorted(set(origins))}
    return response


@require_GET
@never_cache
def oidc_callback(request):
    """The OpenID provider sends the browser back here with its code (a top-level GET, so the session
    cookie comes along): the login takes it as the answer of its OpenID step."""
    if not oidc.enabled():
        raise Http404
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    flow = LoginFlow(request)
    return _leading_to_providers(flow.answer(oidc.OpenIdStep.name, request.GET).respond(request))


@csrf_exempt
@require_POST
@never_cache
def oidc_backchannel_logout(request):
    """The OpenID provider's server posts a signed logout token (no browser, so no CSRF token): the
    sessions it signed in for that subject, and those of the account linked to it, end."""
    if not oidc.enabled():
        raise Http404
    try:
        subject, account = oidc.take_logout_token(request.POST.get("logout_token", ""))
    except (oidc.Refused, oidc.Unavailable) as error:
        log.warning("event=oidc_logout_refused error=%s", str(error)[:200])
        problem = {"error": "invalid_request", "error_description": "The logout token cannot be accepted."}
        return JsonResponse(problem, status=400)
    address = account.email if account is not None else ""
    actions.end_sessions_at_provider(Client.of(request), MethodKey.OIDC, subject, address)
    return HttpResponse(status=200)


@csrf_exempt
@require_POST
@never_cache
def saml_acs(request):
    """The IdP posts here from its own site, so the browser sends no session cookie (SameSite=Lax).

    Nothing is checked or stored here: the page hands the response on to the login, on this site,
    where the session knows which request it answers.
    """
    if not saml.enabled():
        raise Http404
    context = {"saml_response": request.POST.get("SAMLResponse", "")}
    return render(request, "accounts/saml_relay.html", context)


def saml_metadata(request):
    """The portal's SAML metadata, for the identity provider's administrator."""
    if not saml.enabled():
        raise Http404
    try:
        return HttpResponse(saml.sp_metadata(), content_type="application/samlmetadata+xml")
    except saml.Unavailable:
        return HttpResponse(_("The identity provider's metadata cannot be read."), status=503)


@require_http_methods(["GET", "POST"])
@csrf_protect
def logout_view(request):
    """POST logs out; GET (a typed or bookmarked address) asks with a button, as logging out changes state."""
    if request.method == "GET":
        return render(request, "accounts/logout.html")
    kept = request.session.get(sessions.SINGLE_LOGOUT) or {}
    method = registry.REGISTRY.get(kept.get("method"))
    at_provider = method.end_session(kept) if method is not None and method.enabled() else None
    logout(request)
    messages.info(request, _("You have logged out."))
    if at_provider is None:
        return redirect("accounts:login")
    # After a login by an identity provider, its session ends there too (single logout); the provider
    # sends the browser back to the portal.
    response = at_provider.respond(request)
    response._csp_update = {"form-action": method.form_origins()}  # a page whose form posts there
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
@never_cache
def saml_sls(request):
    """The IdP's single logout service: its answer to the portal's LogoutRequest (the person has logged
    out here already), or its own signed LogoutRequest, which ends the person's sessions here."""
    if not saml.enabled():
        raise Http404
    params = request.GET if request.method == "GET" else request.POST
    if not params.get("SAMLRequest"):
        return redirect("accounts:login")
    binding = saml.BINDING_HTTP_REDIRECT if request.method == "GET" else saml.BINDING_HTTP_POST
    try:
        subject, address, answer = saml.take_logout_request(params, binding)
    except (saml.Refused, saml.Unavailable) as error:
        log.warning("event=saml_logout_refused error=%s", str(error)[:200])
        words = _("This logout request cannot be accepted.")
        return HttpResponse(words, status=400, content_type="text/plain")
    actions.end_sessions_at_provider(Client.of(request), MethodKey.SAML, subject, address)
    if answer is None:
        return redirect("accounts:login")
    response = answer.respond(request)  # the LogoutResponse, back to the IdP
    response._csp_update = {"form-action": saml.idp_origins()}  # a page whose form posts there
    return response


def browsers(request):
    """The browser matrix, and whether the visitor's own browser is on it (public)."""
    browser, status, row = browser_support(request.META.get("HTTP_USER_AGENT"))
    context = {"matrix": browser_matrix(), "browser": browser, "status": status, "row": row}
    context["statuses"] = BrowserStatus
    return render(request, "accounts/browsers.html", context)


@sensitive_post_parameters("new_password1", "new_password2", "old_password")
@csrf_protect
@never_cache
def password_change(request):
    """The forced change inside a login, or a signed-in person changing their own password."""
    if not request.user.is_authenticated:
        return LoginFlow(request).handle().respond(request)
    if not request.user.profile().allows(MethodKey.CLOUD):
        # A network or single sign-on password is the organisation's: the portal cannot change it.
        return render(request, "accounts/password_change.html", {"managed_elsewhere": True})
    form = PortalPasswordChangeForm(request.user, request.POST or None, client_ip=client_ip(request))
    if request.method == "POST" and form.is_valid():
        actions.change_own_password(
            request.user, Client.of(request), request.user, form.cleaned_data["new_password1"],
            keep_session=request.session.session_key,
        )  # fmt: skip
        update_session_auth_hash(request, request.user)  # this session stays; all others end
        messages.success(request, _("Your password has been changed."))
        return redirect("home")
    return render(request, "accounts/password_change.html", {"form": form, "forced": False})


@csrf_protect
@never_cache
def forgot_password(request):
    """'Forgot your password?': the same answer for every address, known or not."""
    form = ForgotPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password_help(form.cleaned_data["email"], client_ip(request))
        return render(request, "accounts/forgot_password_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "accounts/forgot_password.html", {"form": form})


ENROL_KEY = "security_enrol_device"


def _enrol_page(request, device, form=None):
    context = twostep.enrolment_page(device, form or VerificationCodeForm())
    return render(request, "accounts/security_enrol.html", context)


def _security_page(request, form=None):
    user = request.user
    context = {
        "form": form or ConfirmPasswordForm(),
        "enrolled": twostep.is_enrolled(user),
        "backup_codes_left": twostep.backup_codes_left(user),
        "required": user.profile().require_two_step,
        "passkeys": list(user.passkeys.all()),
        "recent": recently_signed_in(request),
        "has_password": user.has_usable_password(),
        "sessions": list(sessions.live(user)),
        "this_session": request.session.session_key,
    }
    return render(request, "accounts/security.html", context)


def _with_password(change):
    """A change on the Security page that needs the password again: the page with the error otherwise."""

    @sensitive_post_parameters("password")
    @csrf_protect
    @never_cache
    @login_required
    @require_POST
    @functools.wraps(change)
    def view(request):
        form = ConfirmPasswordForm(request.POST)
        if form.is_valid() and confirm_password(request, request.user, form.cleaned_data["password"]):
            return change(request)
        if form.is_valid():
            form.add_error("password", _("That password is not right."))
        return _security_page(request, form)

    return view


@_with_password
def new_backup_codes(request):
    """Ten new backup codes; the old ones stop working."""
    codes = actions.renew_backup_codes(request.user, Client.of(request), request.user)
    return render(request, "accounts/two_step_backup_codes.html", {"codes": codes})


@_with_password
def new_app(request):
    """A (new) authenticator app: its QR code; the old app works until the new one is confirmed."""
    device = twostep.start_enrolment(request.user)
    request.session[ENROL_KEY] = device.pk
    return _enrol_page(request, device)


@csrf_protect
@never_cache
@login_required
@require_POST
def confirm_app(request):
    """The first code from the new app confirms it (the one enrolment flow of accounts.actions)."""
    if not request.session.get(ENROL_KEY):
        return redirect("accounts:security")
    user = request.user
    device = twostep.start_enrolment(user, request.session[ENROL_KEY])
    code_form = VerificationCodeForm(request.POST)
    code = code_form.cleaned_data["code"] if code_form.is_valid() else ""
    confirmed, codes = actions.set_up_two_step(user, Client.of(request), device, code, keep_backup_codes=True)
    if not confirmed:
        code_form.add_error(None, twostep.WRONG_CODE)
        return _enrol_page(request, device, code_form)
    del request.session[ENROL_KEY]
    messages.success(request, _("Your new authenticator app is set up; the old one no longer works."))
    if codes:
        return render(request, "accounts/two_step_backup_codes.html", {"codes": codes})
    return redirect("accounts:security")


@never_cache
@login_required
@require_GET
def security(request):
    """Two-step status, passkeys and sessions; each change has its own address."""
    return _security_page(request)


@never_cache
@login_required
@require_GET
def sessions_page(request):
    """Where the person is logged in; 'Log out everywhere else', or end one other session of their own."""
    context = {"sessions": list(sessions.live(request.user)), "this_session": request.session.session_key}
    return render(request, "accounts/sessions.html", context)


@csrf_protect
@never_cache
@login_required
@require_POST
def end_other_sessions(request):
    """Log out everywhere else."""
    ended = actions.end_other_sessions(
        request.user, Client.of(request), request.user, keep_session=request.session.session_key
    )
    words = ngettext(
        "You are logged out of %(count)d other session.",
        "You are logged out of %(count)d other sessions.",
        ended,
    )
    messages.success(request, words % {"count": ended})
    return redirect("accounts:sessions")


@csrf_protect
@never_cache
@login_required
@require_POST
def end_session(request):
    """End one other session of one's own (not this one: that is logging out)."""
    user = request.user
    row = sessions.live(user).filter(pk=_int_or_none(request.POST.get("session"))).first()
    if row is not None and row.session_key != request.session.session_key:
        ended_by = actions.SessionsEnded.BY_OWNER
        actions.end_session(user, Client.of(request), user, row.session_key, reason=ended_by)
        messages.success(request, _("That session is logged out."))
    return redirect("accounts:sessions")


def _int_or_none(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@login_required
@require_POST
def passkeys(request):
    """Add a passkey (the page's script: its options, then the device's answer): within ten minutes of
    logging in, or after the password again. Removing one and declining the offer have their own
    addresses."""
    action = request.POST.get("action", "")
    request.session.pop(OFFER_PASSKEY, None)
    if not _signed_in_lately(request):
        refusal = _("That password is not right.")
        if action == "options":
            return JsonResponse({"error": refusal}, status=403)
        messages.error(request, refusal)
        return redirect("accounts:security")
    if action == "options":
        return JsonResponse(passkey.registration_options(request, request.user))
    form = PasskeyForm(request.POST)
    added = form.is_valid() and passkey.register_passkey(
        request, request.user, form.cleaned_data["name"], form.cleaned_data["credential"]
    )
    if added:
        messages.success(
            request, _("Your passkey “%(name)s” is added. Next time, no password.") % {"name": added.name}
        )
    else:
        messages.error(request, _("No passkey was added. Try again, or use another device."))
    return redirect("accounts:security")


def _signed_in_lately(request):
    """Within ten minutes of logging in, or the password typed again (which counts as logging in anew)."""
    if recently_signed_in(request):
        return True
    password = request.POST.get("password", "")
    if password and confirm_password(request, request.user, password):
        request.session[SIGNED_IN_AT] = time.time()
        return True
    return False


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@login_required
@require_POST
def remove_passkey(request):
    """Remove one of one's own passkeys: within ten minutes of logging in, or after the password again."""
    request.session.pop(OFFER_PASSKEY, None)
    if not _signed_in_lately(request):
        messages.error(request, _("That password is not right."))
    elif passkey.remove(request.user, Client.of(request), request.POST.get("passkey", "").strip()):
        messages.success(request, _("The passkey is removed."))
    return redirect("accounts:security")


@csrf_protect
@never_cache
@login_required
@require_POST
def decline_passkey_offer(request):
    """'Not now' to the offer of a passkey after logging in."""
    request.session.pop(OFFER_PASSKEY, None)
    return redirect("home")
