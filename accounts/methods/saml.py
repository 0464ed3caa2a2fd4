"""SAML single sign-on: the portal is a service provider; pysaml2 writes the request and checks the answer.

The browser is sent to the organisation's identity provider (IdP) with an AuthnRequest; the IdP posts
a signed assertion back. Only the answer to the request this browser's login made is accepted (no
unsolicited or replayed responses), its assertion must be signed by the IdP of the metadata, and it
must name the address that was typed. The portal keeps no SAML password; the IdP is the truth.
"""

import base64
import calendar
import datetime
import functools
import logging
import shutil
import time
from types import SimpleNamespace
from urllib.parse import urlsplit

from cryptography import x509
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal import audit

from .. import actions, tokens
from ..login.contract import LoginFailed, Page, Redirect, Step, StepName
from ..models import LoginAttempt, MethodKey, User, normalize_address
from ..sessions import SINGLE_LOGOUT
from ..troubleshooting import Check, Reason
from . import register
from .base import IdentityProviderSignIn, Verdict

log = logging.getLogger("portal.saml")


@functools.cache
def _saml2():
    """pysaml2, imported on first use: about 30 MiB a process needs only once someone uses SAML."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.client import Saml2Client
    from saml2.config import SPConfig
    from saml2.metadata import entity_descriptor
    from saml2.response import StatusError
    from saml2.s_utils import UnsupportedBinding
    from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, name_id_from_string
    from saml2.sigver import RSACrypto, verify_redirect_signature
    from saml2.time_util import str_to_time
    from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

    return SimpleNamespace(
        BINDING_HTTP_POST=BINDING_HTTP_POST,
        BINDING_HTTP_REDIRECT=BINDING_HTTP_REDIRECT,
        Saml2Client=Saml2Client,
        SPConfig=SPConfig,
        entity_descriptor=entity_descriptor,
        StatusError=StatusError,
        UnsupportedBinding=UnsupportedBinding,
        NAMEID_FORMAT_EMAILADDRESS=NAMEID_FORMAT_EMAILADDRESS,
        name_id_from_string=name_id_from_string,
        verify_redirect_signature=verify_redirect_signature,
        RSACrypto=RSACrypto,
        str_to_time=str_to_time,
        DIGEST_SHA256=DIGEST_SHA256,
        SIG_RSA_SHA256=SIG_RSA_SHA256,
    )


# The two bindings of the single logout service (saml2's own constants, without importing pysaml2).
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


class Unavailable(Exception):
    """Single sign-on cannot start: the IdP's metadata cannot be read. A failure on our side."""


class Refused(Exception):
    """A logout request that is not the IdP's own (unsigned, signed by another, SHA-1, malformed)."""


def enabled():
    return bool(settings.SAML_IDP_METADATA)


def acs_url():
    """Where the IdP posts its answer (the Assertion Consumer Service)."""
    return settings.PORTAL_BASE_URL + reverse("accounts:saml_acs")


def sls_url():
    """Where the IdP sends its logout requests and its answers to ours (the SingleLogoutService)."""
    return settings.PORTAL_BASE_URL + reverse("accounts:saml_sls")


def signs_requests():
    return bool(settings.SAML_KEY_FILE and settings.SAML_CERT_FILE)


def entity_id():
    return settings.SAML_SP_ENTITY_ID or settings.PORTAL_BASE_URL + reverse("accounts:saml_metadata")


RELAY_PAGE = "accounts/saml_logout_relay.html"  # a page whose form posts a logout message to the IdP
LOGOUT_REQUEST_SECONDS = 300  # an older LogoutRequest is refused; a newer one's ID is remembered as long
CLOCK_SKEW_SECONDS = 60  # the clocks of the IdP and the portal may differ this much
METADATA_TIMEOUT = 5  # seconds, to fetch the metadata from an https URL
METADATA_REFRESH_SECONDS = 3600  # read it again every hour: the IdP rotates its certificates
RETRY_FAILED_READ_SECONDS = 60
KEEP_LAST_GOOD_SECONDS = 24 * 3600
_failures, _last_good = {}, {}


@functools.lru_cache(maxsize=8)
def _config(metadata, entity, acs, sls, key_file, cert_file, _hour):
    """Parsing metadata is slow: one config per process and setting (`config()` keeps failures)."""
    source = {"remote": [{"url": metadata}]} if metadata.startswith("https://") else {"local": [metadata]}
    keys = {"key_file": key_file, "cert_file": cert_file} if key_file and cert_file else {}
    config = _saml2().SPConfig()
    config.load(
        {
            "entityid": entity,
            "xmlsec_binary": shutil.which("xmlsec1") or "/usr/bin/xmlsec1",
            "metadata": source,
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(acs, _saml2().BINDING_HTTP_POST)],
                        "single_logout_service": [
                            (sls, _saml2().BINDING_HTTP_REDIRECT),
                            (sls, _saml2().BINDING_HTTP_POST),
                        ],
                    },
                    "allow_unsolicited": False,
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "authn_requests_signed": bool(keys),
                    "logout_requests_signed": bool(keys),
                    "logout_responses_signed": bool(keys),
                    "name_id_format": [_saml2().NAMEID_FORMAT_EMAILADDRESS],
                    "signing_algorithm": _saml2().SIG_RSA_SHA256,  # pysaml2 would sign with SHA-1
                    "digest_algorithm": _saml2().DIGEST_SHA256,
                }
            },
            "accepted_time_diff": CLOCK_SKEW_SECONDS,
            "http_client_timeout": METADATA_TIMEOUT,
            "allow_unknown_attributes": True,
            **keys,
            **({"encryption_keypairs": [keys]} if keys else {}),
        }
    )
    if not config.metadata.identity_providers():
        raise Unavailable("it names no identity provider")
    return config


def _key():
    return (
        settings.SAML_IDP_METADATA,
        entity_id(),
        acs_url(),
        sls_url(),
        settings.SAML_KEY_FILE,
        settings.SAML_CERT_FILE,
    )


def config():
    """The portal's SAML configuration, its metadata read again every hour.

    A failed read is not tried again for a minute: every login page asks (for its CSP), and an IdP
    that is down must not slow down everyone else. Meanwhile the last good copy serves for a day.
    """
    key, now = _key(), time.time()
    failed_at, reason = _failures.get(key, (None, ""))
    if failed_at is None or now - failed_at >= RETRY_FAILED_READ_SECONDS:
        try:
            sp_config = _config(*key, int(now // METADATA_REFRESH_SECONDS))
        except Exception as error:  # unreadable file, unreachable URL, broken XML: all the same
            detail = str(error) if isinstance(error, Unavailable) else f"{type(error).__name__}: {error}"
            reason = f"cannot read the IdP metadata: {detail}"
            _failures[key] = (now, reason)
            log.warning("event=saml_metadata_unreadable error=%s", type(error).__name__)
        else:
            _failures.pop(key, None)
            _last_good[key] = (now, sp_config)
            return sp_config
    good_at, good = _last_good.get(key, (None, None))
    if good is not None and now - good_at < KEEP_LAST_GOOD_SECONDS:
        return good
    raise Unavailable(reason)


def metadata_problem():
    """Why the IdP metadata could not be read lately ('' when it could), for check_sso and the admin."""
    return _failures.get(_key(), (None, ""))[1]


def _idp_entity_id(sp_config):
    return sp_config.metadata.identity_providers()[0]


def _idp_logout_services(sp_config, idp):
    """The IdP's SingleLogoutService locations by binding; {} when its metadata offers none (Google
    Workspace publishes none: sign-in works, and logout ends the portal's session only)."""
    try:
        return sp_config.metadata.single_logout_service(idp, None, "idpsso") or {}
    except _saml2().UnsupportedBinding:
        return {}


def idp_origins():
    """The IdP's sign-in and logout addresses, for the pages' CSP form-action (their forms lead there)."""
    try:
        sp_config = config()
        idp = _idp_entity_id(sp_config)
        services = sp_config.metadata.single_sign_on_service(idp, _saml2().BINDING_HTTP_REDIRECT)
        logouts = _idp_logout_services(sp_config, idp)
    except Unavailable:
        return []
    locations = [s["location"] for s in services] + [s["location"] for ss in logouts.values() for s in ss]
    return sorted({"{0.scheme}://{0.netloc}".format(urlsplit(location)) for location in locations})


def start():
    """A new AuthnRequest: (its id, to keep for the answer; the IdP address to send the browser to)."""
    sp_config = config()
    request_id, info = (
        _saml2()
        .Saml2Client(sp_config)
        .prepare_for_authenticate(entityid=_idp_entity_id(sp_config), binding=_saml2().BINDING_HTTP_REDIRECT)
    )
    return request_id, dict(info["headers"])["Location"]


_SHA1 = ("xmldsig#rsa-sha1", "xmldsig#sha1", "xmldsig#dsa-sha1", "xmldsig#hmac-sha1")


def _signed_with_sha1(saml_response):
    """SHA-1 signatures can be forged with enough money; refuse them rather than check them."""
    try:
        text = base64.b64decode(saml_response, validate=False).decode("utf-8", errors="replace")
    except ValueError:
        return False  # not base64: pysaml2 refuses it with its own reason
    return any(algorithm in text for algorithm in _SHA1)


def _asserted_address(response):
    if settings.SAML_EMAIL_ATTRIBUTE:
        values = response.ava.get(settings.SAML_EMAIL_ATTRIBUTE) or [""]
        return normalize_address(values[0])
    return normalize_address(response.name_id.text if response.name_id else "")


def _asserted_name(response):
    attributes = response.ava
    for name in ("displayName", "cn"):
        if attributes.get(name):
            return attributes[name][0]
    return " ".join(attributes.get(n, [""])[0] for n in ("givenName", "sn")).strip()


def verify(saml_response, request_id, address):
    """The IdP's answer to our request `request_id`, for the address typed: a Verdict."""
    typed_user, _alias = User.objects.find_by_address(address)
    if _signed_with_sha1(saml_response):
        return Verdict(
            user=typed_user, reason=Reason.SAML_ERROR, detail="signed with SHA-1: ask the IdP for SHA-256"
        )
    try:
        response = (
            _saml2()
            .Saml2Client(config())
            .parse_authn_request_response(
                saml_response, _saml2().BINDING_HTTP_POST, outstanding={request_id: "login"}
            )
        )
    except Unavailable as error:
        return Verdict(user=typed_user, reason=Reason.SAML_ERROR, detail=str(error), outage=True)
    except _saml2().StatusError as error:
        return Verdict(user=typed_user, reason=Reason.SAML_ERROR, detail=f"the IdP refused: {error}"[:500])
    except Exception as error:  # forged, altered, expired, for someone else, replayed: pysaml2 says which
        return Verdict(
            user=typed_user, reason=Reason.SAML_ERROR, detail=f"{type(error).__name__}: {error}"[:500]
        )
    if response is None or not response.assertion:
        return Verdict(user=typed_user, reason=Reason.SAML_ERROR, detail="the response holds no assertion")
    asserted = _asserted_address(response)
    user, _alias = User.objects.find_by_address(asserted)
    if asserted != address and (user is None or user != typed_user):
        # The IdP's session belongs to someone else (a shared computer): not who asked to sign in.
        return Verdict(
            user=typed_user, reason=Reason.SAML_ERROR, detail=f"the IdP signed in {asserted or '?'}"
        )
    if user is None:  # first sign-in: the account is made; the portal permission is the administrator's
        user = actions.create_account(
            audit.SYSTEM, None, asserted, kind=User.Kind.INTERNAL, name=_asserted_name(response)
        )
        log.info("event=saml_user_created user=%s", user.pk)
    if not user.is_active:
        return Verdict(user=user, reason=Reason.INACTIVE)
    return Verdict(user=user, logout=_logout_data(response))


def _logout_data(response):
    """What a LogoutRequest for this session names: the NameID as the IdP gave it, and its session."""
    name_id = response.name_id
    if name_id is None:
        return {}
    statements = response.assertion.authn_statement
    index = statements[0].session_index if statements else None
    return {"subject": f"saml:{name_id.text}", "name_id": str(name_id), "session_index": index or ""}


def end_session(kept):
    """A LogoutRequest for this session to the IdP's SingleLogoutService, signed when the portal has its
    key: a Redirect (HTTP-Redirect), else a page whose form posts it (HTTP-POST); None when the IdP
    offers no logout service."""
    if not kept.get("name_id"):
        return None
    try:
        sp_config = config()
    except Unavailable:
        return None
    idp = _idp_entity_id(sp_config)
    offered = _idp_logout_services(sp_config, idp)
    for binding in (_saml2().BINDING_HTTP_REDIRECT, _saml2().BINDING_HTTP_POST):
        if services := offered.get(binding):
            return _logout_request(sp_config, idp, binding, services[0]["location"], kept)
    return None


def _logout_request(sp_config, idp, binding, destination, kept):
    client = _saml2().Saml2Client(sp_config)
    redirect_binding = binding == _saml2().BINDING_HTTP_REDIRECT
    _request_id, request = client.create_logout_request(
        destination,
        idp,
        name_id=_saml2().name_id_from_string(kept["name_id"]),
        session_indexes=[kept["session_index"]] if kept.get("session_index") else None,
        sign=signs_requests() and not redirect_binding,  # HTTP-Redirect signs the query instead
        sign_alg=_saml2().SIG_RSA_SHA256,
        digest_alg=_saml2().DIGEST_SHA256,
    )
    if not redirect_binding:
        encoded = base64.b64encode(str(request).encode()).decode()
        return Page(RELAY_PAGE, {"action": destination, "fields": {"SAMLRequest": encoded}})
    info = client.apply_binding(
        _saml2().BINDING_HTTP_REDIRECT,
        str(request),
        destination,
        relay_state="",
        sign=signs_requests(),
        sigalg=_saml2().SIG_RSA_SHA256,
    )
    return Redirect(dict(info["headers"])["Location"])


def take_logout_request(params, binding):
    """The IdP's own LogoutRequest (HTTP-Redirect or POST): (the subject it logs out, the address whose
    account it logs out too ('' when sign-in does not match by the NameID), the LogoutResponse to answer
    with: a Redirect, a Page, or None). Only a request signed by the IdP of
    the metadata counts (SAML's profiles require it on these bindings): anyone else could log anybody out."""
    sp_config = config()
    idp = _idp_entity_id(sp_config)
    client = _saml2().Saml2Client(sp_config)
    text, relay_state = params["SAMLRequest"], params.get("RelayState")
    redirect_binding = binding == _saml2().BINDING_HTTP_REDIRECT
    if redirect_binding:
        sigalg, signature = params.get("SigAlg", ""), params.get("Signature", "")
        if not (sigalg and signature):
            raise Refused("the logout request is not signed")
        if any(algorithm in sigalg for algorithm in _SHA1):
            raise Refused("the logout request is signed with SHA-1")
        message = {"SAMLRequest": text, "Signature": signature, "SigAlg": sigalg}
        if relay_state is not None:
            message["RelayState"] = relay_state
        certificates = sp_config.metadata.certs(idp, "idpsso", use="signing")
        backend = _saml2().RSACrypto(None)  # verifies with the certificate given, needs no key of ours
        try:
            check = _saml2().verify_redirect_signature
            signed = any(check(message, backend, cert) for _name, cert in certificates)
        except Exception as error:
            raise Refused(f"the signature cannot be checked: {type(error).__name__}") from error
        if not signed:
            raise Refused("the logout request's signature is not the IdP's")
    elif _signed_with_sha1(text):
        raise Refused("the logout request is signed with SHA-1")
    try:
        request = client.parse_logout_request(text, binding, relay_state=relay_state)
    except Exception as error:  # altered, expired, for another service provider: pysaml2 says which
        raise Refused(f"{type(error).__name__}: {error}"[:300]) from error
    if request is None or request.message.issuer is None or request.message.issuer.text != idp:
        raise Refused("the logout request is not the IdP's")
    if not redirect_binding and request.message.signature is None:
        raise Refused("the logout request is not signed")
    name_id = request.message.name_id
    if name_id is None or not name_id.text:
        raise Refused("the logout request names nobody")
    _refuse_replay(idp, request.message)
    # The account the NameID names is logged out too only where sign-in matches accounts by the NameID;
    # with SAML_EMAIL_ATTRIBUTE it may be someone else's address (a UPN): the sessions it signed in only.
    address = "" if settings.SAML_EMAIL_ATTRIBUTE else name_id.text
    return f"saml:{name_id.text}", address, _logout_response(client, request.message, relay_state)


def _refuse_replay(idp, message):
    """A LogoutRequest counts once, and only while fresh: one copied from a log or a browser's history
    would otherwise log the person out again at every later sign-in."""
    issued = calendar.timegm(_saml2().str_to_time(message.issue_instant))
    age = time.time() - issued
    if age > LOGOUT_REQUEST_SECONDS + CLOCK_SKEW_SECONDS or age < -CLOCK_SKEW_SECONDS:
        raise Refused(f"the logout request was issued {int(age)} seconds ago")
    seen = tokens.token_hash(f"{idp} {message.id}")
    if not cache.add(f"saml-logout-request:{seen}", 1, LOGOUT_REQUEST_SECONDS + 2 * CLOCK_SKEW_SECONDS):
        raise Refused("the logout request was used before")


def _logout_response(client, request, relay_state):
    """The LogoutResponse to the IdP's SingleLogoutService, signed when the portal has its key: a
    Redirect (HTTP-Redirect), else a page whose form posts it (HTTP-POST); None when the IdP offers no
    logout service to answer at."""
    try:  # the IdP's logout service, HTTP-Redirect rather than HTTP-POST
        where = client.response_args(request, [_saml2().BINDING_HTTP_REDIRECT, _saml2().BINDING_HTTP_POST])
    except Exception:  # pysaml2 raises when the IdP has no logout service of either binding
        return None
    redirect_binding = where["binding"] == _saml2().BINDING_HTTP_REDIRECT
    answer = client.create_logout_response(
        request,
        [where["binding"]],
        sign=signs_requests() and not redirect_binding,  # HTTP-Redirect signs the query instead
        sign_alg=_saml2().SIG_RSA_SHA256,
        digest_alg=_saml2().DIGEST_SHA256,
    )
    if not redirect_binding:
        encoded = base64.b64encode(str(answer).encode()).decode()
        fields = {"SAMLResponse": encoded, **({"RelayState": relay_state} if relay_state else {})}
        return Page(RELAY_PAGE, {"action": where["destination"], "fields": fields, "answering": True})
    info = client.apply_binding(
        where["binding"],
        str(answer),
        where["destination"],
        relay_state or "",
        response=True,
        sign=signs_requests(),
        sigalg=_saml2().SIG_RSA_SHA256,
    )
    return Redirect(dict(info["headers"])["Location"])


def sp_metadata():
    """The portal's own metadata, for the IdP's administrator."""
    return str(_saml2().entity_descriptor(config()))


def _certificates(sp_config, idp):
    """The IdP's signing certificates from its metadata: (subject, not valid after), soonest first."""
    found = []
    for _name, text in sp_config.metadata.certs(idp, "idpsso", use="signing"):
        certificate = x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))
        found.append((certificate.subject.rfc4514_string(), certificate.not_valid_after_utc))
    return sorted(found, key=lambda c: c[1])


def diagnose():
    """What `check_sso` and the admin page show: the portal's names, the IdP, its certificates."""
    report = {
        "enabled": enabled(),
        "metadata": settings.SAML_IDP_METADATA or "(not configured)",
        "entity_id": entity_id(),
        "acs_url": acs_url(),
        "sls_url": sls_url(),
        "signs_requests": signs_requests(),
    }
    if not enabled():
        return report
    try:
        sp_config = config()
    except Unavailable as error:
        return {**report, "error": str(error)}
    idp = _idp_entity_id(sp_config)
    now = datetime.datetime.now(datetime.UTC)
    services = sp_config.metadata.single_sign_on_service(idp, _saml2().BINDING_HTTP_REDIRECT)
    report.update(
        idp=idp,
        sign_in_urls=[s["location"] for s in services],
        certificates=[
            {"subject": subject, "expires": expires, "days_left": (expires - now).days}
            for subject, expires in _certificates(sp_config, idp)
        ],
    )
    problems = []
    if stale := metadata_problem():
        problems.append(f"{stale} (the copy read before serves meanwhile, a day at most)")
    if not services:
        problems.append("the IdP offers no sign-in address for the HTTP-Redirect binding")
    if not report["certificates"]:
        problems.append("the IdP metadata has no signing certificate: no answer could be checked")
    elif report["certificates"][-1]["days_left"] < 0:
        problems.append("every signing certificate of the IdP has expired")
    if problems:
        report["error"] = "; ".join(problems)
    return report


class SingleSignOnStep(Step):
    """Where the profile puts SAML first: the organisation's identity provider signs the person in.

    The address typed chose the profile, so a known and an unknown address go the same way.
    """

    name = StepName.SSO
    url_name = "accounts:sso"

    def applies(self, flow):
        if not enabled() or flow.state.sso_declined or flow.state.user_id:
            return False  # no lookup of the profile on every login step where SSO is off
        return flow.profile().method_list()[:1] == [MethodKey.SAML]

    def show(self, flow, form=None, failure=None):
        password_too = flow.profile().allows(MethodKey.CLOUD)
        if failure is None and (flow.request.GET.get("start") or not password_too):
            return self.to_identity_provider(flow)
        return flow.page("accounts/login_sso.html", failure=failure, password_too=password_too)

    def to_identity_provider(self, flow):
        try:
            request_id, url = start()
        except Unavailable as error:
            return flow.fail(
                LoginFailed(LoginAttempt.Reason.SAML_ERROR, str(error), method=MethodKey.SAML, outage=True)
            )
        flow.state.saml_request = request_id  # only the answer to this request will do
        flow.save()
        return Redirect(url)

    def submit(self, flow, data):
        if data.get("SAMLResponse"):
            request_id, flow.state.saml_request = flow.state.saml_request, ""
            if not request_id:
                raise LoginFailed(
                    LoginAttempt.Reason.SAML_ERROR,
                    "no request of this login awaits an answer",
                    method=MethodKey.SAML,
                )
            verdict = verify(data["SAMLResponse"], request_id, flow.state.email)
            if not verdict.ok:
                raise LoginFailed(
                    verdict.reason,
                    verdict.detail,
                    user=verdict.user,
                    method=MethodKey.SAML,
                    outage=verdict.outage,
                )
            if verdict.logout:
                flow.request.session[SINGLE_LOGOUT] = {"method": MethodKey.SAML, **verdict.logout}
            flow.proved(verdict.user, MethodKey.SAML)
            return None
        if data.get("choice") == "password" and flow.profile().allows(MethodKey.CLOUD):
            flow.state.sso_declined = True
            return None
        return self.show(flow)


class SingleSignOn(IdentityProviderSignIn):
    """The organisation's identity provider (SAML 2.0) signs the person in; the portal keeps no password."""

    key = MethodKey.SAML
    service_label = gettext_lazy("Single sign-on")

    def enabled(self):
        return enabled()

    def steps(self):
        return [SingleSignOnStep()]

    def end_session(self, kept):
        return end_session(kept)

    def form_origins(self):
        return idp_origins()

    def doctor_check(self, d):
        label = _("Single sign-on")
        report = diagnose()
        if not report["enabled"]:
            return Check(label, _("Off on this server (SAML_IDP_METADATA)."), Reason.METHOD_NOT_ALLOWED)
        if report.get("error"):
            return Check(label, _("Problem: %(error)s") % {"error": report["error"]}, Reason.SAML_ERROR)
        certificates = report["certificates"]
        text = _("Identity provider %(idp)s.") % {"idp": report["idp"]}
        if certificates:
            latest = certificates[-1]
            text += " " + _("Its signing certificate expires on %(date)s (in %(days)s days).") % {
                "date": date_format(latest["expires"], "DATE_FORMAT"),
                "days": latest["days_left"],
            }
        d.working_methods.append(self.key)
        return Check(label, text)


register(SingleSignOn())
