"""OpenID Connect against a real provider (django-oauth-toolkit, in its own process on loopback)."""

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import LoginAttempt

from .helpers import GENERIC_FAILURE, last_attempt, signed_in_user
from .openid_provider import path_and_query


def to_provider(client, email):
    """Type the address: the portal sends the browser to the provider. Its authorization URL."""
    client.post("/login/", {"step": "identify", "email": email})
    sent = client.get("/login/sso/")
    assert sent.status_code == 302, sent.content.decode()[:500]
    return sent["Location"]


def oidc_log_in(client, provider, email):
    """The whole round: to the provider, its answer to the portal's callback; the last page."""
    back = provider.authorize(to_provider(client, email))
    return client.get(path_and_query(back), follow=True)


def test_the_provider_signs_in_the_person_it_vouches_for(openid_provider, make_user):
    olive = make_user("olive@oidc.example", name="Olive Open")
    openid_provider.sign_in_as("olive@oidc.example")
    client = Client()
    page = oidc_log_in(client, openid_provider, "olive@oidc.example").content.decode()
    assert "Welcome, Olive Open" in page
    assert signed_in_user(client) == olive
    attempt = last_attempt()
    assert (attempt.outcome, attempt.method) == (LoginAttempt.Outcome.SUCCESS, "oidc")


def test_the_request_carries_pkce_state_and_nonce(openid_provider):
    query = parse_qs(urlsplit(to_provider(Client(), "olive@oidc.example")).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 43 and len(query["nonce"][0]) >= 43
    assert query["redirect_uri"] == ["http://testserver/oidc/callback/"]
    assert "openid" in query["scope"][0].split()


def test_a_first_sign_in_makes_the_account_but_the_permission_is_the_administrators(openid_provider):
    from accounts.models import User

    openid_provider.sign_in_as("newcomer@oidc.example", name="Nina New")
    page = oidc_log_in(Client(), openid_provider, "newcomer@oidc.example").content.decode()
    assert GENERIC_FAILURE in page
    made = User.objects.get(email="newcomer@oidc.example")
    assert made.name == "Nina New" and made.kind == User.Kind.INTERNAL
    assert last_attempt().reason == LoginAttempt.Reason.NO_PERMISSION


def test_the_address_leads_straight_to_the_provider(openid_provider, make_user):
    make_user("olive@oidc.example")
    client = Client()
    sent = client.post("/login/", {"step": "identify", "email": "olive@oidc.example"})
    assert sent.status_code == 302 and sent["Location"].startswith(openid_provider.issuer + "/authorize/")
    openid_provider.sign_in_as("olive@oidc.example")
    client.get(path_and_query(openid_provider.authorize(sent["Location"])))
    assert signed_in_user(client).email == "olive@oidc.example"


def test_a_known_and_an_unknown_address_both_go_to_the_provider(openid_provider, make_user):
    make_user("olive@oidc.example")
    known = urlsplit(to_provider(Client(), "olive@oidc.example"))
    unknown = urlsplit(to_provider(Client(), "nobody@oidc.example"))
    assert (known.scheme, known.netloc, known.path) == (unknown.scheme, unknown.netloc, unknown.path)


def test_the_provider_signing_in_someone_else_is_refused(openid_provider, make_user):
    make_user("olive@oidc.example")
    make_user("mallory@oidc.example")
    openid_provider.sign_in_as("mallory@oidc.example")  # a shared computer, someone else's session there
    client = Client()
    page = oidc_log_in(client, openid_provider, "olive@oidc.example").content.decode()
    assert GENERIC_FAILURE in page and "Reference" in page
    assert signed_in_user(client) is None
    attempt = last_attempt()
    assert attempt.reason == LoginAttempt.Reason.OIDC_ERROR
    assert "signed in mallory@oidc.example" in attempt.detail


def test_an_address_the_provider_has_not_verified_is_refused(openid_provider, make_user):
    make_user("olive@oidc.example")
    openid_provider.sign_in_as("olive@oidc.example", verified=False)
    client = Client()
    assert GENERIC_FAILURE in oidc_log_in(client, openid_provider, "olive@oidc.example").content.decode()
    assert signed_in_user(client) is None
    assert "no verified address" in last_attempt().detail


def test_an_entra_style_provider_vouches_by_the_claim_the_administrator_names(
    openid_provider, make_user, settings
):
    """Microsoft Entra ID sends no email_verified: its address counts only through the claim named by
    OIDC_EMAIL_VERIFIED_CLAIM (xms_edov, the domain is the tenant's), and only when that claim is true."""
    olive = make_user("olive@oidc.example")
    openid_provider.sign_in_as("olive@oidc.example", style="entra")
    refused = Client()
    assert GENERIC_FAILURE in oidc_log_in(refused, openid_provider, "olive@oidc.example").content.decode()
    assert signed_in_user(refused) is None and "email_verified" in last_attempt().detail

    settings.OIDC_EMAIL_VERIFIED_CLAIM = "xms_edov"
    openid_provider.sign_in_as("olive@oidc.example", style="entra")
    vouched = Client()
    oidc_log_in(vouched, openid_provider, "olive@oidc.example")
    assert signed_in_user(vouched) == olive
    openid_provider.sign_in_as("olive@oidc.example", style="entra", verified=False)
    unvouched = Client()
    assert GENERIC_FAILURE in oidc_log_in(unvouched, openid_provider, "olive@oidc.example").content.decode()
    assert signed_in_user(unvouched) is None and "xms_edov" in last_attempt().detail


def test_the_address_may_come_from_the_userinfo_endpoint(openid_provider, make_user):
    olive = make_user("olive@oidc.example")
    openid_provider.sign_in_as("olive@oidc.example", address_in="userinfo")
    client = Client()
    oidc_log_in(client, openid_provider, "olive@oidc.example")
    assert signed_in_user(client) == olive, last_attempt().detail
    openid_provider.sign_in_as("olive@oidc.example", address_in="userinfo", verified=False)
    client = Client()
    oidc_log_in(client, openid_provider, "olive@oidc.example")
    assert signed_in_user(client) is None
    assert "no verified address" in last_attempt().detail


def test_an_answer_counts_once_and_only_in_the_browser_that_asked(openid_provider, make_user):
    make_user("olive@oidc.example")
    openid_provider.sign_in_as("olive@oidc.example")
    asking = Client()
    back = path_and_query(openid_provider.authorize(to_provider(asking, "olive@oidc.example")))
    attacker = Client()  # the answer planted in another browser (login CSRF), or stolen from a log
    attacker.post("/login/", {"step": "identify", "email": "olive@oidc.example"})
    attacker.get("/login/sso/")
    assert GENERIC_FAILURE in attacker.get(back, follow=True).content.decode()
    assert signed_in_user(attacker) is None
    assert "state" in last_attempt().detail
    asking.get(back)
    assert signed_in_user(asking) is not None
    again = Client()
    again.get(back, follow=True)
    assert signed_in_user(again) is None


def test_a_refusal_by_the_provider_shows_the_failure_and_a_way_to_try_again(openid_provider, make_user):
    make_user("olive@oidc.example")
    client = Client()
    state = parse_qs(urlsplit(to_provider(client, "olive@oidc.example")).query)["state"][0]
    page = client.get("/oidc/callback/", {"state": state, "error": "access_denied"}).content.decode()
    assert GENERIC_FAILURE in page and "/login/sso/?start=1" in page
    assert "access_denied" in last_attempt().detail
    assert client.get("/login/sso/?start=1")["Location"].startswith(openid_provider.issuer)


def test_new_keys_are_fetched_when_the_provider_rotates_them(openid_provider, make_user):
    olive = make_user("olive@oidc.example")
    openid_provider.sign_in_as("olive@oidc.example")
    client = Client()
    oidc_log_in(client, openid_provider, "olive@oidc.example")
    assert signed_in_user(client) == olive
    openid_provider.rotate_key()  # the portal still has the old key cached
    openid_provider.sign_in_as("olive@oidc.example")
    client = Client()
    oidc_log_in(client, openid_provider, "olive@oidc.example")
    assert signed_in_user(client) == olive, last_attempt().detail


def test_an_id_token_not_signed_by_the_provider_is_refused(openid_provider, settings):
    """A token signed with another key (even naming the provider's key id), unsigned, or signed by the
    provider for another client, another issuer, too late or another login: each refused."""
    import base64
    import json
    import time

    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from accounts.methods import oidc

    provider_kid = oidc.key_set().keys[0].kid
    claims = {
        "iss": openid_provider.issuer,
        "aud": settings.OIDC_CLIENT_ID,
        "sub": "1",
        "exp": int(time.time()) + 300,
        "iat": int(time.time()),
        "nonce": "n",
        "email": "olive@oidc.example",
        "email_verified": True,
    }
    forger = RSAKey.generate_key(2048, parameters={"kid": provider_kid})
    with pytest.raises(Exception, match="signature"):
        oidc._checked_claims(jwt.encode({"alg": "RS256", "kid": provider_kid}, claims, forger), "n")

    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    with pytest.raises(Exception, match="none|algorithm|Algorithm"):
        oidc._checked_claims(f"{part({'alg': 'none'})}.{part(claims)}.", "n")

    # Signed with the provider's own key, but not for this login: each claim checked.
    own = RSAKey.import_key(
        (openid_provider.folder / "key.pem").read_bytes(), parameters={"kid": provider_kid}
    )

    def signed(**changed):
        return jwt.encode({"alg": "RS256", "kid": provider_kid}, {**claims, **changed}, own)

    assert oidc._checked_claims(signed(), "n")["email"] == "olive@oidc.example"  # the control
    for changed, nonce, words in [
        ({"aud": "another-client"}, "n", "aud"),
        ({"iss": "http://127.0.0.1:1/o"}, "n", "iss"),
        ({"exp": int(time.time()) - 120}, "n", "expired"),
        ({}, "another login's nonce", "nonce"),
    ]:
        with pytest.raises(Exception, match=words):
            oidc._checked_claims(signed(**changed), nonce)


def test_an_http_issuer_is_refused_unless_on_a_loopback_address(openid_provider, make_user, settings):
    from accounts.methods import oidc

    make_user("olive@oidc.example")
    settings.OIDC_ISSUER = "http://login.example.com/o"
    oidc.forget_provider()
    client = Client()
    client.post("/login/", {"step": "identify", "email": "olive@oidc.example"})
    page = client.get("/login/sso/").content.decode()
    assert "Reference" in page
    attempt = last_attempt()
    assert attempt.reason == LoginAttempt.Reason.OIDC_ERROR and "not https" in attempt.detail


def test_logging_out_ends_the_session_at_the_provider_too(openid_provider, make_user):
    from portal.models import AuditEvent

    make_user("olive@oidc.example")
    openid_provider.sign_in_as("olive@oidc.example")
    client = Client()
    oidc_log_in(client, openid_provider, "olive@oidc.example")
    assert openid_provider.signed_in() == "olive@oidc.example"
    out = client.post("/logout/")
    assert out["Location"].startswith(openid_provider.issuer + "/logout/")
    assert "id_token_hint=" in out["Location"]
    assert signed_in_user(client) is None
    status, back = openid_provider.follow(out["Location"])
    assert (status, back) == (302, "http://testserver/login/")
    assert openid_provider.signed_in() == ""
    assert "You have logged out." in client.get("/login/").content.decode()
    ended = AuditEvent.objects.filter(event="session.ended").latest("at")
    assert ended.details["provider"] == "oidc" and ended.actor_name == "olive@oidc.example"


def test_the_first_sign_in_links_the_account_to_the_providers_subject(openid_provider, make_user):
    from accounts.models import ProviderIdentity
    from portal.models import AuditEvent

    olive = make_user("olive@oidc.example")
    for _ in range(2):
        openid_provider.sign_in_as("olive@oidc.example")
        assert "Welcome" in oidc_log_in(Client(), openid_provider, "olive@oidc.example").content.decode()
    (link,) = ProviderIdentity.objects.all()
    assert (link.user, link.issuer) == (olive, openid_provider.issuer) and link.subject
    (linked,) = AuditEvent.objects.filter(event=AuditEvent.Event.IDENTITY_LINKED)
    assert (linked.actor_name, linked.subject) == ("system", olive)
    assert linked.details["provider_subject"] == link.subject


def test_an_address_that_moved_to_another_account_at_the_provider_is_refused(
    openid_provider, make_user, client
):
    """The provider's subject is the person; an address can be renamed, reused or set by a tenant."""
    from accounts.models import ProviderIdentity
    from portal.models import AuditEvent

    from .helpers import log_in

    olive = make_user("olive@oidc.example")
    make_user("bob@oidc.example")
    openid_provider.sign_in_as("olive@oidc.example")
    oidc_log_in(Client(), openid_provider, "olive@oidc.example")
    first = ProviderIdentity.objects.get(user=olive).subject

    # Another account at the provider now has olive's address (verified, as the provider says).
    openid_provider.sign_in_as("olive@oidc.example", account="mallory", name="Mallory")
    stranger = Client()
    page = oidc_log_in(stranger, openid_provider, "olive@oidc.example").content.decode()
    assert GENERIC_FAILURE in page and signed_in_user(stranger) is None
    attempt = last_attempt()
    assert attempt.reason == LoginAttempt.Reason.PROVIDER_SUBJECT_CHANGED and first in attempt.detail
    # Olive's own provider account, renamed to bob's address, does not become bob here either.
    openid_provider.sign_in_as("bob@oidc.example", account="olive@oidc.example")
    renamed = Client()
    assert GENERIC_FAILURE in oidc_log_in(renamed, openid_provider, "bob@oidc.example").content.decode()
    assert signed_in_user(renamed) is None
    assert last_attempt().reason == LoginAttempt.Reason.PROVIDER_SUBJECT_CHANGED
    assert ProviderIdentity.objects.get(user=olive).subject == first
    assert not ProviderIdentity.objects.filter(user__email="bob@oidc.example").exists()

    # The administrator reads why in the doctor and, the new account being olive's, forgets the link.
    make_user("admin@example.com", "correct horse battery", is_staff=True, is_superuser=True)
    log_in(client, "admin@example.com", "correct horse battery")
    page = client.get("/admin/diagnose/", {"email": "olive@oidc.example"}).content.decode()
    assert f"Linked to the provider&#x27;s subject {first}" in page
    assert "signed in another of its accounts than the one this address is linked to" in page
    account_page = client.get(f"/admin/accounts/user/{olive.pk}/change/").content.decode()
    assert f"subject {first} at {openid_provider.issuer}" in account_page
    done = client.post("/admin/diagnose/fix/", {"email": "olive@oidc.example", "fix": "forget_provider_link"})
    assert "The link is forgotten" in client.get(done["Location"]).content.decode()
    assert not ProviderIdentity.objects.filter(user=olive).exists()
    forgotten = AuditEvent.objects.get(event=AuditEvent.Event.IDENTITY_FORGOTTEN)
    assert (forgotten.actor_name, forgotten.subject) == ("admin@example.com", olive)

    openid_provider.sign_in_as("olive@oidc.example", account="mallory", name="Mallory")
    now_olive = Client()
    oidc_log_in(now_olive, openid_provider, "olive@oidc.example")
    assert signed_in_user(now_olive) == olive
    assert ProviderIdentity.objects.get(user=olive).subject != first


def back_channel_logout(token):
    """What the provider's server does when the person logs out there: post the logout token."""
    return Client().post("/oidc/backchannel-logout/", {"logout_token": token})


def test_a_logout_at_the_provider_ends_the_persons_sessions_here(openid_provider, make_user):
    """OpenID Connect Back-Channel Logout: the provider's signed logout token, server to server."""
    from portal.models import AuditEvent

    olive = make_user("olive@oidc.example")
    other = make_user("other@oidc.example")
    laptop, phone, bystander = Client(), Client(), Client()
    for browser in (laptop, phone):
        openid_provider.sign_in_as("olive@oidc.example")
        oidc_log_in(browser, openid_provider, "olive@oidc.example")
    openid_provider.sign_in_as("other@oidc.example")
    oidc_log_in(bystander, openid_provider, "other@oidc.example")
    assert signed_in_user(laptop) == signed_in_user(phone) == olive

    token = openid_provider.logout_token("olive@oidc.example")
    answer = back_channel_logout(token)
    assert answer.status_code == 200 and "no-store" in answer["Cache-Control"]
    assert signed_in_user(laptop) is None and signed_in_user(phone) is None
    assert laptop.get("/").status_code == 302
    assert signed_in_user(bystander) == other and bystander.get("/").status_code == 200
    ended = AuditEvent.objects.filter(event="session.ended").latest("at")
    assert (ended.actor_name, ended.subject) == ("system", olive)
    assert ended.details == {"count": 2, "scope": "single_logout", "by": "oidc"}

    assert back_channel_logout(token).status_code == 400  # a token counts once


def test_nobody_but_the_provider_logs_anyone_out_through_the_back_channel(openid_provider, make_user):
    """Anyone can post to the back channel: only a logout token the provider signed for this portal,
    recent, with the logout event and no nonce, counts; anything else is a 400 and logs nobody out."""
    import time

    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from accounts.methods import oidc

    olive = make_user("olive@oidc.example")
    browser = Client()
    openid_provider.sign_in_as("olive@oidc.example")
    oidc_log_in(browser, openid_provider, "olive@oidc.example")
    genuine = openid_provider.logout_token("olive@oidc.example")
    header, claims = jwt.decode(genuine, oidc.key_set()).header, jwt.decode(genuine, oidc.key_set()).claims
    forger = RSAKey.generate_key(2048, parameters={"kid": header["kid"]})
    refused = [
        jwt.encode(header, {**claims, "jti": "forged"}, forger),  # another key, naming the provider's
        openid_provider.logout_token("olive@oidc.example", aud="another-client"),
        openid_provider.logout_token("olive@oidc.example", iss="http://127.0.0.1:1/o"),
        openid_provider.logout_token("olive@oidc.example", nonce="an ID token's"),
        openid_provider.logout_token("olive@oidc.example", events=None),
        openid_provider.logout_token("olive@oidc.example", events={"another-event": {}}),
        openid_provider.logout_token("olive@oidc.example", jti=None),
        openid_provider.logout_token("olive@oidc.example", sub=None),
        openid_provider.logout_token("olive@oidc.example", iat=int(time.time()) - 3600, exp=None),
        genuine.rsplit(".", 1)[0] + ".",  # the signature cut off
        "not a token",
        "",
    ]
    for token in refused:
        answer = back_channel_logout(token)
        assert answer.status_code == 400, token
        assert answer.json()["error"] == "invalid_request"
        assert signed_in_user(browser) == olive
    assert back_channel_logout(genuine).status_code == 200  # the control: the genuine one still counts
    assert signed_in_user(browser) is None


def test_the_doctor_and_the_check_page_check_the_provider(openid_provider, make_user, client, settings):
    from accounts.methods import oidc

    from .helpers import log_in

    make_user("admin@example.com", "correct horse battery", is_staff=True, is_superuser=True)
    make_user("olive@oidc.example")
    log_in(client, "admin@example.com", "correct horse battery")
    page = client.get("/admin/diagnose/", {"email": "olive@oidc.example"}).content.decode()
    assert "OpenID Connect" in page and openid_provider.issuer in page and "signing keys" in page
    page = client.get("/admin/accounts/authprofile/single-sign-on/").content.decode()
    assert "http://testserver/oidc/callback/" in page and openid_provider.issuer in page
    assert "http://testserver/oidc/backchannel-logout/" in page
    out = io.StringIO()
    call_command("check_sso", stdout=out)
    assert f"OpenID issuer: {openid_provider.issuer}" in out.getvalue()
    assert "OpenID back-channel logout URI: http://testserver/oidc/backchannel-logout/" in out.getvalue()
    assert re.search(
        r"OpenID signing keys: 1, clock difference -?[01] s", out.getvalue()
    )  # Date: whole seconds
    settings.OIDC_ISSUER = f"{openid_provider.base}/nowhere"
    oidc.forget_provider()
    page = client.get("/admin/diagnose/", {"email": "olive@oidc.example"}).content.decode()
    assert "cannot read the discovery document" in page


def test_a_message_link_leads_through_the_provider_to_the_message(
    openid_provider, make_user, hold_message, mailbox
):
    from .test_messages import body_text, deliver

    make_user("olive@oidc.example", name="Olive Open")
    message = hold_message(["olive@oidc.example"], subject="For Olive", text="Only for Olive.")
    deliver(mailbox, 1)
    (notice,) = mailbox.to("olive@oidc.example")  # staff of the organisation get no temporary password
    link = re.search(r"http://testserver(/m/[A-Za-z0-9_-]{43}/)", body_text(notice)).group(1)
    openid_provider.sign_in_as("olive@oidc.example")
    client = Client()
    assert client.get(link)["Location"] == "/login/"
    assert client.get("/login/")["Location"] == "/login/sso/"  # the address is the link's, fixed
    back = openid_provider.authorize(client.get("/login/sso/")["Location"])
    page = client.get(path_and_query(back), follow=True).content.decode()
    assert "Only for Olive." in page and "For Olive" in page
    assert message.access_events.filter(action="open").count() == 1
