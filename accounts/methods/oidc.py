"""OpenID Connect sign-in: the portal is a relying party of the organisation's OpenID provider.

Authorization code flow with PKCE (S256), `state` and `nonce` (Authlib writes the request and fetches
the token); the ID token's signature is checked against the provider's published keys and its
`iss`, `aud`, `exp` and `nonce` against this login (joserfc). The address is taken only when the
provider says it is verified, and it must be the address that was typed, as with SAML. The first
sign-in links the account to the provider's subject (`sub`); after that, only that subject is it.
"""

import email.utils
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from urllib.parse import urlencode, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from portal import audit

from .. import actions, tokens
from ..login.contract import LoginFailed, Redirect, Step, StepName
from ..models import MethodKey, ProviderIdentity, User, normalize_address
from ..sessions import SINGLE_LOGOUT
from ..troubleshooting import Check, FixKey, Reason
from . import register
from .base import IdentityProviderSignIn, Verdict

log = logging.getLogger("portal.oidc")

TIMEOUT = 5  # seconds, for each request to the provider
REFRESH_SECONDS = 3600  # the discovery document and the keys are read again every hour
RETRY_FAILED_SECONDS = 60  # a provider that is down is asked again after a minute, not on every login
REFETCH_KEYS_SECONDS = 1  # an unknown key id fetches the keys again, at most this often
CLOCK_SKEW_SECONDS = 60
SCOPE = "openid email profile"
# Asymmetric signatures only: an HMAC-signed ID token would be keyed by the client secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_SECONDS = 300  # an older logout token is refused; a newer one's jti is remembered as long


class Unavailable(Exception):
    """The provider cannot be asked: its discovery document or its keys cannot be read. Our side."""


class Refused(Exception):
    """What came in the provider's name is not the provider's, or not for us (a logout token)."""


def enabled():
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID)


def _issuer():
    return settings.OIDC_ISSUER.rstrip("/")


def redirect_uri():
    """Where the provider sends the browser back with its code (registered at the provider)."""
    return settings.PORTAL_BASE_URL + reverse("accounts:oidc_callback")


def logged_out_uri():
    """Where the provider sends the browser after logging it out (registered at the provider)."""
    return settings.PORTAL_BASE_URL + reverse("accounts:login")


def safe_url(url):
    """https, or http on a loopback address only (a provider on the same machine, as in tests)."""
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class _Cache:
    """The provider's discovery document and keys, shared by the process's threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.discovery = {}  # issuer -> (read at, document)
        self.keys = {}  # jwks_uri -> (read at, KeySet)
        self.refetched = {}  # jwks_uri -> when an unknown key id last made us read the keys again
        self.failed = {}  # issuer -> (failed at, why)
        self.skew = {}  # issuer -> seconds between the provider's clock and ours, at the last read


_cache = _Cache()


def forget_provider():
    """Read the provider afresh at the next login (its settings changed)."""
    global _cache
    _cache = _Cache()


def _get_json(url):
    response = requests.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"})
    response.raise_for_status()
    return response.json(), response.headers.get("Date")


def discovery():
    """The provider's configuration, read from OIDC_ISSUER/.well-known/openid-configuration."""
    issuer, now = _issuer(), time.time()
    with _cache.lock:
        read_at, document = _cache.discovery.get(issuer, (0, None))
        failed_at, why = _cache.failed.get(issuer, (0, ""))
    if document is not None and now - read_at < REFRESH_SECONDS:
        return document
    if now - failed_at < RETRY_FAILED_SECONDS:
        if document is not None:
            return document  # the last good copy serves while the provider is down
        raise Unavailable(why)
    try:
        if not safe_url(issuer):
            raise Unavailable(f"the issuer {issuer} is not https (http only on a loopback address)")
        fetched, date = _get_json(issuer + "/.well-known/openid-configuration")
        if not isinstance(fetched, dict) or fetched.get("issuer", "").rstrip("/") != issuer:
            raise Unavailable(f"the discovery document names another issuer: {fetched.get('issuer')!r}")
        unsafe = [name for name in ENDPOINTS if not safe_url(fetched.get(name))]
        if unsafe:
            raise Unavailable(f"missing or not https: {', '.join(unsafe)}")
    except (Unavailable, requests.RequestException, ValueError, AttributeError) as error:
        why = str(error) if isinstance(error, Unavailable) else f"{type(error).__name__}: {error}"
        why = f"cannot read the discovery document: {why}"[:500]
        log.warning("event=oidc_discovery_unreadable error=%s", type(error).__name__)
        with _cache.lock:
            _cache.failed[issuer] = (now, why)
        if document is not None:
            return document
        raise Unavailable(why) from error
    with _cache.lock:
        _cache.discovery[issuer] = (now, fetched)
        _cache.failed.pop(issuer, None)
        _cache.skew[issuer] = _clock_difference(date, now)
    return fetched


def _clock_difference(date_header, now):
    """Seconds the provider's clock (its Date header, whole seconds) is ahead of ours; 0 if it sends none."""
    try:
        return email.utils.parsedate_to_datetime(date_header).timestamp() - now
    except (TypeError, ValueError):
        return 0


def key_set(*, refresh=False):
    """The provider's signing keys (its JWKS), read again every hour, or now when `refresh`."""
    uri, now = discovery()["jwks_uri"], time.time()
    with _cache.lock:
        read_at, keys = _cache.keys.get(uri, (0, None))
        if refresh:  # tokens naming unknown keys must not make us hammer the provider
            refresh = now - _cache.refetched.get(uri, 0) >= REFETCH_KEYS_SECONDS
            _cache.refetched[uri] = now if refresh else _cache.refetched[uri]
    if keys is not None and not refresh and now - read_at < REFRESH_SECONDS:
        return keys
    try:
        document, _date = _get_json(uri)
        keys = KeySet.import_key_set(document)
    except (requests.RequestException, ValueError, JoseError, TypeError, KeyError) as error:
        why = f"cannot read the provider's keys: {type(error).__name__}: {error}"
        raise Unavailable(why[:500]) from error
    with _cache.lock:
        _cache.keys[uri] = (now, keys)
    return keys


def _signing_key(guest):
    """The key the token names; an unknown key id means the provider rotated its keys: read them again."""
    kid = guest.headers().get("kid")
    keys = key_set()
    if kid and not any(key.kid == kid for key in keys.keys):
        keys = key_set(refresh=True)
    return keys


def start(email_address):
    """A new authorization request: (what the login keeps for the answer, the provider's URL)."""
    config = discovery()
    pending = {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "verifier": secrets.token_urlsafe(64),
    }
    client = OAuth2Session(
        settings.OIDC_CLIENT_ID,
        scope=SCOPE,
        redirect_uri=redirect_uri(),
        code_challenge_method="S256",
    )
    url, _state = client.create_authorization_url(
        config["authorization_endpoint"],
        state=pending["state"],
        code_verifier=pending["verifier"],
        nonce=pending["nonce"],
        login_hint=email_address,
    )
    return pending, url


def _token_auth_method(config):
    supported = config.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return "client_secret_basic" if "client_secret_basic" in supported else "client_secret_post"


def _fetch_tokens(config, code, verifier):
    client = OAuth2Session(
        settings.OIDC_CLIENT_ID,
        settings.OIDC_CLIENT_SECRET,
        scope=SCOPE,
        redirect_uri=redirect_uri(),
        token_endpoint_auth_method=_token_auth_method(config),
    )
    client.timeout = TIMEOUT
    token = client.fetch_token(config["token_endpoint"], code=code, code_verifier=verifier)
    if not token.get("id_token"):
        raise ValueError("the token endpoint gave no ID token")
    return token


def _with_userinfo(config, claims, access_token):
    """Some providers give the address only at their userinfo endpoint (OpenID Connect Core 5.3): ask
    it, for the same `sub`, when the ID token does not say."""
    endpoint = config.get("userinfo_endpoint")
    if settings.OIDC_EMAIL_CLAIM in claims or not access_token or not safe_url(endpoint):
        return claims
    answer = requests.get(endpoint, headers={"Authorization": f"Bearer {access_token}"}, timeout=TIMEOUT)
    answer.raise_for_status()
    info = answer.json()
    if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
        raise ValueError("the userinfo endpoint answered for another subject")
    names = (settings.OIDC_EMAIL_CLAIM, settings.OIDC_EMAIL_VERIFIED_CLAIM)
    address = {name: info[name] for name in names if name in info}
    return {**claims, **address}


def _checked_claims(id_token, nonce):
    """The ID token's claims once its signature, issuer, audience, times and nonce are right."""
    token = jwt.decode(id_token, _signing_key, algorithms=ALGORITHMS)
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_SKEW_SECONDS,
        iss={"essential": True, "value": discovery()["issuer"]},
        aud={"essential": True, "value": settings.OIDC_CLIENT_ID},
        exp={"essential": True},
        sub={"essential": True},
    )
    registry.validate(token.claims)
    claims = token.claims
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audience) > 1 and claims.get("azp") != settings.OIDC_CLIENT_ID:
        raise ValueError("the ID token was issued to another party (azp)")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise ValueError("the ID token's nonce is not this login's")
    return claims


def _verified_address(claims):
    if claims.get(settings.OIDC_EMAIL_VERIFIED_CLAIM) not in (True, "true"):
        return ""
    return normalize_address(str(claims.get(settings.OIDC_EMAIL_CLAIM) or ""))


def verify(answer, pending, address):
    """The provider's answer (the callback's query) to this login's request: a Verdict."""
    typed_user, _alias = User.objects.find_by_address(address)

    def refused(detail, outage=False, reason=Reason.OIDC_ERROR):
        return Verdict(user=typed_user, reason=reason, detail=detail[:500], outage=outage)

    if not pending or not hmac.compare_digest(str(answer.get("state", "")), pending["state"]):
        return refused("the answer's state is not this login's (a stale or forged answer)")
    if answer.get("error"):
        return refused(f"the provider refused: {answer.get('error')} {answer.get('error_description', '')}")
    if not answer.get("code"):
        return refused("the answer holds no code")
    try:
        config = discovery()
        tokens = _fetch_tokens(config, answer["code"], pending["verifier"])
        id_token = tokens["id_token"]
        claims = _with_userinfo(
            config, _checked_claims(id_token, pending["nonce"]), tokens.get("access_token")
        )
    except Unavailable as error:
        return refused(str(error), outage=True)
    except requests.HTTPError as error:  # a refusal without a JSON error, or the provider failing
        status = error.response.status_code if error.response is not None else 0
        return refused(f"the provider answered HTTP {status} ({error.request.url})", outage=status >= 500)
    except requests.RequestException as error:
        return refused(f"the provider cannot be reached: {type(error).__name__}", outage=True)
    except Exception as error:  # a refused code, a forged or expired token: the library says which
        return refused(f"{type(error).__name__}: {error}")
    asserted = _verified_address(claims)
    if not asserted:
        claimed = f"{settings.OIDC_EMAIL_CLAIM}, {settings.OIDC_EMAIL_VERIFIED_CLAIM}"
        return refused(f"the provider vouches for no verified address ({claimed})")
    user, _alias = User.objects.find_by_address(asserted)
    if asserted != address and (user is None or user != typed_user):
        return refused(f"the provider signed in {asserted}")  # its session is someone else's
    if user is None:
        user = actions.create_account(
            audit.SYSTEM, None, asserted, kind=User.Kind.INTERNAL, name=str(claims.get("name") or "")
        )
        log.info("event=oidc_user_created user=%s", user.pk)
    if mismatch := _linked_elsewhere(user, _issuer(), str(claims["sub"])):
        return refused(mismatch, reason=Reason.PROVIDER_SUBJECT_CHANGED)
    if not user.is_active:
        return Verdict(user=user, reason=Reason.INACTIVE)
    return Verdict(user=user, logout={"subject": f"oidc:{claims['sub']}", "id_token": id_token})


def _linked_elsewhere(user, issuer, subject):
    """Why this subject may not sign in as this account ('' when it may): each is linked to the other at
    the first sign-in, and only to the other after (an address that moved at the provider stays out)."""
    for _attempt in range(2):  # a second look when a parallel first sign-in linked something meanwhile
        links = list(ProviderIdentity.objects.filter(issuer=issuer).filter(Q(subject=subject) | Q(user=user)))
        for link in links:
            if link.user_id != user.pk:
                return f"the provider's subject {subject} is linked to another account (user {link.user_id})"
            if link.subject != subject:
                return f"{user.email} is linked to the provider's subject {link.subject}, not {subject}"
        if links or actions.link_provider_identity(user, issuer, subject):
            return ""
    return "the link to the provider's subject could not be made"


def end_session(kept):
    """To the provider's end-session address for this session (RP-initiated logout); None without one."""
    try:
        endpoint = discovery().get("end_session_endpoint")
    except Unavailable:
        return None
    if not safe_url(endpoint):
        return None
    query = {
        "id_token_hint": kept.get("id_token", ""),
        "client_id": settings.OIDC_CLIENT_ID,
        "post_logout_redirect_uri": logged_out_uri(),
    }
    return Redirect(f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}")


def backchannel_logout_uri():
    """Where the provider posts its logout tokens (registered at the provider)."""
    return settings.PORTAL_BASE_URL + reverse("accounts:oidc_backchannel_logout")


def take_logout_token(logout_token):
    """A back-channel logout (OpenID Connect Back-Channel Logout 1.0): (the subject whose sessions end,
    the account linked to it or None). Only a token the provider signed for this client, with the
    logout event, a `sub`, no `nonce`, issued in the last five minutes and never seen before counts:
    anyone can post here, and it logs people out."""
    try:
        token = jwt.decode(logout_token, _signing_key, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": discovery()["issuer"]},
            aud={"essential": True, "value": settings.OIDC_CLIENT_ID},
            iat={"essential": True},
            jti={"essential": True},
            sub={"essential": True},
        ).validate(token.claims)
    except Unavailable:
        raise
    except Exception as error:  # not a JWT, not the provider's signature, not for us: joserfc says which
        raise Refused(f"{type(error).__name__}: {error}"[:300]) from error
    claims = token.claims
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise Refused("the token holds no back-channel logout event")
    if "nonce" in claims:
        raise Refused("a logout token has no nonce (this is an ID token)")
    if time.time() - claims["iat"] > LOGOUT_TOKEN_SECONDS + CLOCK_SKEW_SECONDS:
        raise Refused("the logout token is too old")
    seen = tokens.token_hash(f"{claims['iss']} {claims['jti']}")
    if not cache.add(f"oidc-logout-token:{seen}", 1, LOGOUT_TOKEN_SECONDS + 2 * CLOCK_SKEW_SECONDS):
        raise Refused("the logout token was used before")
    subject = str(claims["sub"])
    link = ProviderIdentity.objects.filter(issuer=_issuer(), subject=subject).select_related("user").first()
    return f"oidc:{subject}", link.user if link else None


def provider_origins():
    """The provider's sign-in address, for the login pages' CSP form-action."""
    try:
        endpoint = discovery()["authorization_endpoint"]
    except Unavailable:
        return []
    return ["{0.scheme}://{0.netloc}".format(urlsplit(endpoint))]


def diagnose():
    """What the doctor and `check_sso` show: the discovery document, the keys and the clock."""
    report = {"enabled": enabled(), "issuer": settings.OIDC_ISSUER or "(not configured)"}
    report.update(redirect_uri=redirect_uri(), logged_out_uri=logged_out_uri())
    report.update(backchannel_logout_uri=backchannel_logout_uri())
    if not enabled():
        return report
    try:
        config = discovery()
        keys = key_set()
    except Unavailable as error:
        return {**report, "error": str(error)}
    skew = _cache.skew.get(_issuer(), 0)
    report.update(
        keys=len(keys.keys),
        skew=round(skew),
        logout=bool(config.get("end_session_endpoint")),
    )
    problems = []
    if stale := _cache.failed.get(_issuer(), (0, ""))[1]:
        problems.append(f"{stale} (the copy read before serves meanwhile)")
    if not keys.keys:
        problems.append("the provider publishes no signing key")
    if abs(skew) > CLOCK_SKEW_SECONDS:
        problems.append(f"the provider's clock and ours differ by {round(skew)} seconds")
    if problems:
        report["error"] = "; ".join(problems)
    return report


class OpenIdStep(Step):
    """Where the profile puts OpenID Connect first: the organisation's provider signs the person in.

    The address typed chose the profile, so a known and an unknown address go the same way.
    """

    name = StepName.OIDC
    url_name = "accounts:sso"
    sends_away = True

    def applies(self, flow):
        if not enabled() or flow.state.user_id:
            return False
        return flow.profile().method_list()[:1] == [MethodKey.OIDC]

    def show(self, flow, form=None, failure=None):
        if failure is None:
            return self.to_provider(flow)
        return flow.page("accounts/login_sso.html", failure=failure, password_too=False)

    def to_provider(self, flow):
        try:
            flow.state.pending, url = start(flow.state.email)
        except Unavailable as error:
            return flow.fail(LoginFailed(Reason.OIDC_ERROR, str(error), method=MethodKey.OIDC, outage=True))
        flow.save()
        return Redirect(url)

    def submit(self, flow, data):
        if not (data.get("code") or data.get("error")):
            return self.to_provider(flow)  # the page's "try again" button
        pending, flow.state.pending = flow.state.pending, None  # an answer counts once
        verdict = verify(data, pending, flow.state.email)
        if not verdict.ok:
            user, outage = verdict.user, verdict.outage
            raise LoginFailed(verdict.reason, verdict.detail, user=user, method=MethodKey.OIDC, outage=outage)
        flow.request.session[SINGLE_LOGOUT] = {"method": MethodKey.OIDC, **verdict.logout}
        flow.proved(verdict.user, MethodKey.OIDC)
        return None


class OpenIdConnect(IdentityProviderSignIn):
    """The organisation's OpenID provider signs the person in; the portal keeps no password."""

    key = MethodKey.OIDC
    service_label = gettext_lazy("OpenID Connect")

    def enabled(self):
        return enabled()

    def steps(self):
        return [OpenIdStep()]

    def end_session(self, kept):
        return end_session(kept)

    def form_origins(self):
        return provider_origins()

    def doctor_check(self, d):
        label = _("OpenID Connect")
        report = diagnose()
        if not report["enabled"]:
            return Check(label, _("Off on this server (OIDC_ISSUER)."), Reason.METHOD_NOT_ALLOWED)
        if report.get("error"):
            return Check(label, _("Problem: %(error)s") % {"error": report["error"]}, Reason.OIDC_ERROR)
        d.working_methods.append(self.key)
        text = _("Provider %(issuer)s: %(keys)s signing keys, clocks %(skew)s seconds apart.") % {
            "issuer": report["issuer"],
            "keys": report["keys"],
            "skew": report["skew"],
        }
        link = d.user and d.user.provider_identities.filter(issuer=_issuer()).first()
        if not link:
            return Check(label, text)
        linked = _("Linked to the provider's subject %(subject)s since %(date)s.") % {
            "subject": link.subject,
            "date": date_format(timezone.localtime(link.linked_at), "DATETIME_FORMAT"),
        }
        return Check(label, f"{text} {linked}", fix=FixKey.FORGET_PROVIDER_LINK)


register(OpenIdConnect())
