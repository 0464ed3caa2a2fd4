"""SAML single sign-on against a real pysaml2 identity provider on loopback."""

import base64
import html
import re
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import AuthProfile, LoginAttempt, User

from .helpers import GENERIC_FAILURE, last_attempt, log_in, signed_in_user
from .identity_provider import form_action, form_fields

BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def go_to_idp(client, email):
    """Type the address; the portal sends the browser to the IdP. The IdP's page (its answer)."""
    client.post("/login/", {"step": "identify", "email": email})
    to_idp = client.get("/login/sso/")
    assert to_idp.status_code == 302, to_idp.content.decode()[:500]
    return to_idp["Location"]


def idp_answer(location):
    """The IdP's auto-posting form: the signed response and where it goes."""
    page = urllib.request.urlopen(location, timeout=10).read().decode()
    return urlsplit(form_action(page)).path, form_fields(page)


def post_answer(client, acs_path, fields):
    """As the browser does: the answer to the ACS (cross-site), then the relay page's form (same site)."""
    relay = client.post(acs_path, fields)
    assert relay.status_code == 200
    page = relay.content.decode()
    return client.post(form_action(page), form_fields(page), follow=True)


def sso_log_in(client, email):
    return post_answer(client, *idp_answer(go_to_idp(client, email)))


def signed_in_user_after(client, email):
    sso_log_in(client, email)
    return signed_in_user(client)


def test_the_idp_signs_in_the_person_it_vouches_for(identity_provider, make_user):
    sam = make_user("sam@sso.example", name="Sam Single")
    identity_provider.sign_in_as("sam@sso.example")
    client = Client()
    page = sso_log_in(client, "sam@sso.example").content.decode()
    assert "Welcome, Sam Single" in page
    assert signed_in_user(client) == sam
    attempt = last_attempt()
    assert (attempt.outcome, attempt.method, attempt.user) == ("success", "saml", sam)


def test_a_known_and_an_unknown_address_both_go_to_the_idp(identity_provider, make_user):
    make_user("sam@sso.example")
    known = go_to_idp(Client(), "sam@sso.example")
    unknown = go_to_idp(Client(), "nobody@sso.example")
    assert urlsplit(known)[:3] == urlsplit(unknown)[:3] == urlsplit(identity_provider.base + "/sso")[:3]


def test_a_first_sign_in_makes_the_account_but_the_permission_is_the_administrators(identity_provider):
    identity_provider.sign_in_as("new@sso.example", name="New Starter")
    client = Client()
    page = sso_log_in(client, "new@sso.example").content.decode()
    assert GENERIC_FAILURE in page and signed_in_user(client) is None
    new = User.objects.get(email="new@sso.example")
    assert (new.kind, new.name, new.has_usable_password()) == ("internal", "New Starter", False)
    assert last_attempt().reason == "no_permission"


def test_the_idp_signing_in_someone_else_is_refused(identity_provider, make_user):
    make_user("sam@sso.example")
    make_user("boss@sso.example")
    identity_provider.sign_in_as("boss@sso.example")  # the IdP's session on a shared computer
    client = Client()
    page = sso_log_in(client, "sam@sso.example").content.decode()
    assert GENERIC_FAILURE in page and signed_in_user(client) is None
    attempt = last_attempt()
    assert attempt.reason == "saml_error" and "boss@sso.example" in attempt.detail


def test_a_refusal_by_the_idp_shows_the_failure_and_a_way_to_try_again(identity_provider, make_user):
    make_user("sam@sso.example")
    identity_provider.refuse()
    client = Client()
    page = sso_log_in(client, "sam@sso.example").content.decode()
    attempt = last_attempt()
    assert GENERIC_FAILURE in page and attempt.reference in page
    assert "Continue with single sign-on" in page  # no automatic loop back to the IdP
    assert (attempt.reason, attempt.method) == ("saml_error", "saml") and "refused" in attempt.detail


def test_an_altered_response_is_refused(identity_provider, make_user):
    make_user("sam@sso.example")
    make_user("boss@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    client = Client()
    acs, fields = idp_answer(go_to_idp(client, "sam@sso.example"))
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert xml.count("sam@sso.example") >= 2
    fields["SAMLResponse"] = base64.b64encode(
        xml.replace("sam@sso.example", "boss@sso.example").encode()
    ).decode()
    page = post_answer(client, acs, fields).content.decode()
    assert GENERIC_FAILURE in page and signed_in_user(client) is None
    assert last_attempt().reason == "saml_error"


def test_an_unsigned_assertion_is_refused(identity_provider, make_user):
    make_user("sam@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    identity_provider.sign_assertions = False
    client = Client()
    assert GENERIC_FAILURE in sso_log_in(client, "sam@sso.example").content.decode()
    assert signed_in_user(client) is None and last_attempt().reason == "saml_error"


def test_an_assertion_signed_with_sha1_is_refused(identity_provider, make_user):
    make_user("sam@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    identity_provider.sha1 = True
    client = Client()
    assert GENERIC_FAILURE in sso_log_in(client, "sam@sso.example").content.decode()
    assert signed_in_user(client) is None and "SHA-1" in last_attempt().detail


def test_an_answer_counts_once_and_only_for_the_request_it_answers(identity_provider, make_user):
    make_user("sam@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    first = Client()
    acs, fields = idp_answer(go_to_idp(first, "sam@sso.example"))
    assert signed_in_user(first) is None
    post_answer(first, acs, fields)
    assert signed_in_user(first) is not None

    replayed = Client()  # a captured answer, with another login's request waiting
    go_to_idp(replayed, "sam@sso.example")
    assert GENERIC_FAILURE in post_answer(replayed, acs, fields).content.decode()
    assert signed_in_user(replayed) is None and last_attempt().reason == "saml_error"

    unsolicited = Client()  # and with no request waiting at all
    unsolicited.post("/login/", {"step": "identify", "email": "sam@sso.example"})
    unsolicited.post("/login/sso/", {"step": "sso", "SAMLResponse": fields["SAMLResponse"]})
    assert signed_in_user(unsolicited) is None and last_attempt().reason == "saml_error"


def test_the_address_may_come_in_an_attribute_instead_of_the_name_id(identity_provider, make_user, settings):
    make_user("sam@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    identity_provider.opaque_name_id = True
    assert signed_in_user_after(Client(), "sam@sso.example") is None
    assert last_attempt().reason == "saml_error"
    settings.SAML_EMAIL_ATTRIBUTE = "mail"
    assert signed_in_user_after(Client(), "sam@sso.example").email == "sam@sso.example"


def test_with_a_key_of_its_own_the_portal_signs_its_requests(
    identity_provider, make_user, settings, tmp_path
):
    from accounts.methods import saml

    from .certificates import self_signed

    make_user("sam@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    assert signed_in_user_after(Client(), "sam@sso.example") is not None
    assert "Signature=" not in identity_provider.last_request_url
    assert "KeyDescriptor" not in saml.sp_metadata()

    settings.SAML_CERT_FILE, settings.SAML_KEY_FILE = map(str, self_signed(tmp_path, "sp", algorithm="rsa"))
    assert "KeyDescriptor" in saml.sp_metadata()  # the IdP learns the portal's certificate from it
    identity_provider.trust(saml.sp_metadata())
    assert signed_in_user_after(Client(), "sam@sso.example") is not None
    request = parse_qs(identity_provider.last_request_url)
    assert request["Signature"] and request["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]


def test_a_message_link_leads_through_single_sign_on_to_the_message(
    identity_provider, make_user, hold_message, mailbox
):
    from .test_messages import link_and_password

    make_user("sam@sso.example", name="Sam Single")
    message = hold_message(["sam@sso.example"], subject="For Sam", text="Only for Sam.")
    link, password = link_and_password(mailbox, "sam@sso.example", count=1)
    assert password is None  # staff of the organisation get no temporary password
    identity_provider.sign_in_as("sam@sso.example")
    client = Client()
    assert client.get(link)["Location"] == "/login/"
    assert client.get("/login/")["Location"] == "/login/sso/"  # the address is the link's, fixed
    to_idp = client.get("/login/sso/")
    page = post_answer(client, *idp_answer(to_idp["Location"])).content.decode()
    assert "Only for Sam." in page and "For Sam" in page
    assert signed_in_user(client).email == "sam@sso.example"
    assert message.access_events.filter(action="open").count() == 1


@pytest.mark.parametrize(
    "garbage", ["not base64 at all!", base64.b64encode(b"<not-saml/>").decode(), "A" * 5000]
)
def test_garbage_instead_of_an_answer_is_a_failure_not_an_error(identity_provider, make_user, garbage):
    make_user("sam@sso.example")
    client = Client()
    go_to_idp(client, "sam@sso.example")
    response = client.post("/login/sso/", {"step": "sso", "SAMLResponse": garbage}, follow=True)
    assert response.status_code == 200 and GENERIC_FAILURE in response.content.decode()
    assert last_attempt().reason == "saml_error" and signed_in_user(client) is None


def test_two_step_follows_single_sign_on_where_the_profile_asks(identity_provider, make_user):
    make_user("sam@sso.example")
    AuthProfile.objects.filter(domains="sso.example").update(require_two_step=True)
    identity_provider.sign_in_as("sam@sso.example")
    client = Client()
    page = sso_log_in(client, "sam@sso.example").content.decode()
    assert "authenticator app" in page.lower() and signed_in_user(client) is None


def test_where_the_profile_allows_it_a_cloud_password_instead(identity_provider, make_user):
    make_user("sam@sso.example")
    AuthProfile.objects.filter(domains="sso.example").update(methods="saml,cloud")
    client = Client()
    client.post("/login/", {"step": "identify", "email": "sam@sso.example"})
    response = client.get("/login/sso/")
    choice = response.content.decode()
    assert response.status_code == 200  # a choice, not a redirect to the IdP
    assert "Continue with single sign-on" in choice and "Use my cloud password instead" in choice
    client.post("/login/sso/", {"step": "sso", "choice": "password"})
    page = client.post("/login/", {"step": "verify", "password": "correct horse battery"}, follow=True)
    assert "Welcome" in page.content.decode() and last_attempt().method == "cloud"


def test_the_idp_metadata_unreadable_is_an_outage_with_a_reference(identity_provider, make_user, settings):
    make_user("sam@sso.example")
    settings.SAML_IDP_METADATA = "/nonexistent/idp-metadata.xml"
    client = Client()
    client.post("/login/", {"step": "identify", "email": "sam@sso.example"})
    page = client.get("/login/sso/").content.decode()
    attempt = last_attempt()
    assert "temporarily unavailable" in page and attempt.reference in page
    assert attempt.reason == "saml_error" and "metadata" in attempt.detail


def test_an_unreadable_metadata_is_tried_again_only_after_a_minute(
    identity_provider, make_user, settings, tmp_path
):
    import shutil

    import time_machine
    from django.utils import timezone

    make_user("sam@sso.example")
    later = tmp_path / "idp-metadata.xml"
    settings.SAML_IDP_METADATA = str(later)

    def sign_in_page():
        client = Client()
        client.post("/login/", {"step": "identify", "email": "sam@sso.example"})
        return client.get("/login/sso/")

    assert "temporarily unavailable" in sign_in_page().content.decode()
    shutil.copy(identity_provider.metadata_file, later)  # the metadata is back
    started = timezone.now()
    with time_machine.travel(started + timedelta(seconds=30)):
        # Every login page needs it (CSP); a failed read is not repeated for each of them.
        assert "temporarily unavailable" in sign_in_page().content.decode()
    with time_machine.travel(started + timedelta(seconds=61)):
        assert sign_in_page()["Location"].startswith(identity_provider.base)


def test_the_idp_metadata_is_read_again_every_hour(identity_provider, settings, tmp_path):
    import io
    import shutil

    import time_machine
    from django.core.management import call_command
    from django.utils import timezone

    copy = tmp_path / "idp-metadata.xml"
    shutil.copy(identity_provider.metadata_file, copy)
    settings.SAML_IDP_METADATA = str(copy)

    def sign_in_addresses():
        out = io.StringIO()
        call_command("check_sso", stdout=out)
        return [line for line in out.getvalue().splitlines() if line.startswith("sign-in address")]

    started = timezone.now()
    with time_machine.travel(started):
        assert sign_in_addresses() == [f"sign-in address: {identity_provider.base}/sso"]
    copy.write_text(copy.read_text().replace(f"{identity_provider.base}/sso", "https://idp.example/new-sso"))
    with time_machine.travel(started + timedelta(hours=1, minutes=1)):
        assert sign_in_addresses() == ["sign-in address: https://idp.example/new-sso"]


def test_when_the_metadata_cannot_be_read_again_the_last_good_copy_serves_for_a_day(
    identity_provider, make_user, settings, tmp_path
):
    import io
    import shutil

    import time_machine
    from django.core.management import call_command
    from django.utils import timezone

    make_user("sam@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    copy = tmp_path / "idp-metadata.xml"
    shutil.copy(identity_provider.metadata_file, copy)
    settings.SAML_IDP_METADATA = str(copy)
    started = timezone.now()
    with time_machine.travel(started):
        assert signed_in_user_after(Client(), "sam@sso.example") is not None
    copy.write_text("<broken")  # the IdP's metadata URL answers rubbish for a while
    with time_machine.travel(started + timedelta(hours=1, minutes=1)):
        assert signed_in_user_after(Client(), "sam@sso.example") is not None
        out = io.StringIO()
        call_command("check_sso", stdout=out)
        assert (
            "error: cannot read the IdP metadata" in out.getvalue() and "serves meanwhile" in out.getvalue()
        )
    with time_machine.travel(started + timedelta(hours=25, minutes=2)):
        client = Client()
        client.post("/login/", {"step": "identify", "email": "sam@sso.example"})
        assert "temporarily unavailable" in client.get("/login/sso/").content.decode()


def test_the_portal_publishes_its_metadata_for_the_idp(identity_provider, settings):
    metadata = Client().get("/saml/metadata/")
    assert metadata["Content-Type"] == "application/samlmetadata+xml"
    text = metadata.content.decode()
    assert f'Location="{settings.PORTAL_BASE_URL}/saml/acs/"' in text
    assert f'entityID="{settings.PORTAL_BASE_URL}/saml/metadata/"' in text
    settings.SAML_IDP_METADATA = "/nonexistent/idp-metadata.xml"
    assert Client().get("/saml/metadata/").status_code == 503
    settings.SAML_IDP_METADATA = ""
    assert Client().get("/saml/metadata/").status_code == 404
    assert Client().post("/saml/acs/", {"SAMLResponse": "x"}).status_code == 404


def test_the_acs_hands_the_answer_on_without_touching_the_session(identity_provider):
    response = Client(enforce_csrf_checks=True).post("/saml/acs/", {"SAMLResponse": "PHNhbWw+"})
    assert response.status_code == 200 and "sessionid" not in response.cookies
    page = response.content.decode()
    assert form_action(page) == "/login/sso/" and form_fields(page)["SAMLResponse"] == "PHNhbWw+"
    assert LoginAttempt.objects.count() == 0


def test_login_forms_may_lead_to_the_idp_and_nowhere_else(identity_provider):
    policy = Client().get("/login/")["Content-Security-Policy"]
    form_action_directive = next(d for d in policy.split(";") if d.strip().startswith("form-action"))
    assert form_action_directive.split()[1:] == ["'self'", identity_provider.base]


def test_network_and_cloud_logins_are_untouched_by_single_sign_on(identity_provider, make_user):
    make_user("staff@example.com")
    assert "Welcome" in log_in(Client(), "staff@example.com", "correct horse battery").content.decode()


def test_check_sso_shows_what_to_give_the_idp_and_when_its_certificate_expires(
    identity_provider, settings, tmp_path
):
    import io

    from django.core.management import call_command

    from .certificates import self_signed

    out = io.StringIO()
    call_command("check_sso", stdout=out)
    text = out.getvalue()
    assert f"assertion consumer service: {settings.PORTAL_BASE_URL}/saml/acs/" in text
    assert f"identity provider: {identity_provider.base}/metadata" in text
    assert f"sign-in address: {identity_provider.base}/sso" in text
    assert "signing certificate: CN=idp, expires" in text and "(1 days left)" in text and "error" not in text

    # The IdP's certificate has expired (the metadata was never updated): said plainly.
    expired, _key = self_signed(tmp_path, "old", common_name="idp", algorithm="rsa", days=-3)

    def body(pem):
        return "".join(pem.read_text().splitlines()[1:-1])

    metadata = identity_provider.metadata_file.read_text()
    stale = tmp_path / "stale-metadata.xml"
    stale.write_text(metadata.replace(body(identity_provider.cert_file), body(expired)))
    settings.SAML_IDP_METADATA = str(stale)
    out = io.StringIO()
    call_command("check_sso", stdout=out)
    assert "error: every signing certificate of the IdP has expired" in out.getvalue()


def test_the_admin_page_checks_single_sign_on(client, identity_provider, make_user, settings):
    make_user("admin@example.com", "correct horse battery", is_staff=True, is_superuser=True)
    log_in(client, "admin@example.com", "correct horse battery")
    assert "Check single sign-on" in client.get("/admin/accounts/authprofile/").content.decode()
    page = client.get("/admin/accounts/authprofile/single-sign-on/").content.decode()
    assert f"{settings.PORTAL_BASE_URL}/saml/acs/" in page and f"{identity_provider.base}/sso" in page
    settings.SAML_IDP_METADATA = "/nonexistent/idp-metadata.xml"
    page = client.get("/admin/accounts/authprofile/single-sign-on/").content.decode()
    assert "cannot read the IdP metadata" in page


@pytest.mark.parametrize(
    "method, path, data",
    [
        ("get", "/saml/acs/", {}),
        ("post", "/saml/acs/", {}),
        ("get", "/login/sso/", {}),
        ("get", "/login/sso/?start=1", {}),
        ("post", "/login/sso/", {"step": "sso", "SAMLResponse": "x"}),
        ("post", "/login/sso/", {"step": "sso", "choice": "password"}),
        ("get", "/saml/metadata/?x=<script>", {}),
    ],
)
def test_odd_requests_to_the_single_sign_on_addresses_get_a_clear_answer(
    identity_provider, method, path, data
):
    response = getattr(Client(), method)(path, data)
    assert response.status_code in (200, 302, 405)
    assert LoginAttempt.objects.count() == 0  # nothing was attempted: nothing recorded


# -- Single logout ----------------------------------------------------------------------------------


def is_signed_in(client):
    return client.get("/").status_code == 200 and signed_in_user(client) is not None


def test_the_portal_publishes_its_single_logout_service(identity_provider):
    from accounts.methods import saml

    metadata = saml.sp_metadata()
    assert "SingleLogoutService" in metadata and "/saml/sls/" in metadata


def test_logging_out_after_single_sign_on_logs_out_at_the_idp_and_comes_back(identity_provider, make_user):
    from portal.models import AuditEvent

    make_user("sam@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    client = Client()
    sso_log_in(client, "sam@sso.example")
    out = client.post("/logout/")
    assert out["Location"].startswith(f"{identity_provider.base}/slo?SAMLRequest=")
    assert "Signature=" not in out["Location"]  # the portal has no key of its own here
    assert signed_in_user(client) is None  # logged out here before the IdP answers
    back = idp_logout(out["Location"])
    assert identity_provider.last_logout["name_id"] == "sam@sso.example"
    assert identity_provider.last_logout["session_index"]  # the session the IdP opened, named
    assert urlsplit(back).path == "/saml/sls/" and "SAMLResponse=" in back
    landed = client.get(back, follow=True)
    assert landed.redirect_chain[-1][0] == "/login/"
    assert "You have logged out." in landed.content.decode()
    ended = AuditEvent.objects.filter(event="session.ended").latest("at")
    assert ended.details == {"scope": "logout", "provider": "saml"}


def test_an_idp_without_a_logout_service_signs_in_and_logout_ends_the_portals_session(
    identity_provider, make_user, settings
):
    """Google Workspace publishes no SingleLogoutService: the pages that offer SAML answered 500."""
    settings.SAML_IDP_METADATA = str(identity_provider.metadata_without_logout())
    sam = make_user("sam@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200 and identity_provider.base in form_action_origins(page)
    assert "Welcome" in sso_log_in(client, "sam@sso.example").content.decode()
    assert signed_in_user(client) == sam
    out = client.post("/logout/", follow=True)
    assert out.redirect_chain[-1][0] == "/login/" and "You have logged out." in out.content.decode()
    assert signed_in_user(client) is None
    assert identity_provider.last_logout is None  # nothing was sent to the IdP


def idp_logout(request):
    """The browser at the IdP's logout address (a URL, or a POST request): where the IdP sends it back
    (its LogoutResponse)."""

    class NoFollow(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    try:
        urllib.request.build_opener(NoFollow).open(request, timeout=10)
    except urllib.error.HTTPError as redirect:
        return redirect.headers["Location"]
    raise AssertionError("the IdP did not answer with a redirect")


def test_with_a_key_of_its_own_the_portal_signs_its_logout_requests(
    identity_provider, make_user, settings, tmp_path
):
    from accounts.methods import saml

    from .certificates import self_signed

    make_user("sam@sso.example")
    settings.SAML_CERT_FILE, settings.SAML_KEY_FILE = map(str, self_signed(tmp_path, "sp", algorithm="rsa"))
    identity_provider.trust(saml.sp_metadata())
    identity_provider.sign_in_as("sam@sso.example")
    client = Client()
    sso_log_in(client, "sam@sso.example")
    out = client.post("/logout/")
    assert "Signature=" in out["Location"] and "SigAlg=" in out["Location"]
    idp_logout(out["Location"])
    assert identity_provider.last_logout["signed"] is True


def signed_in_where_the_idp_logs_out_by_post(identity_provider, make_user, settings, tmp_path):
    """Sam's browser, signed in by an IdP whose logout service takes HTTP-POST only; the portal has a key."""
    from accounts.methods import saml

    from .certificates import self_signed

    make_user("sam@sso.example")
    settings.SAML_CERT_FILE, settings.SAML_KEY_FILE = map(str, self_signed(tmp_path, "sp", algorithm="rsa"))
    settings.SAML_IDP_METADATA = str(identity_provider.metadata_logging_out_by_post())
    identity_provider.trust(saml.sp_metadata())
    identity_provider.sign_in_as("sam@sso.example")
    client = Client()
    sso_log_in(client, "sam@sso.example")
    return client


def form_action_origins(page):
    """What the page's CSP lets its forms post to."""
    return page["Content-Security-Policy"].split("form-action")[1].split(";")[0]


def test_an_idp_that_takes_logout_requests_by_post_gets_a_signed_one_by_post(
    identity_provider, make_user, settings, tmp_path
):
    client = signed_in_where_the_idp_logs_out_by_post(identity_provider, make_user, settings, tmp_path)
    page = client.post("/logout/")
    assert page.status_code == 200 and signed_in_user(client) is None
    assert identity_provider.base in form_action_origins(page)
    form = re.search(
        r'<form method="post" action="([^"]+)" data-autosubmit>.*?</form>', page.content.decode(), re.S
    )
    fields = {"SAMLRequest": re.search(r'name="SAMLRequest" value="([^"]+)"', form.group(0)).group(1)}
    request = urllib.request.Request(
        html.unescape(form.group(1)), data=urlencode(fields).encode(), method="POST"
    )
    assert request.full_url == f"{identity_provider.base}/slo"
    back = idp_logout(request)
    assert identity_provider.last_logout["name_id"] == "sam@sso.example"
    assert identity_provider.last_logout["signed"] is True
    assert client.get(back, follow=True).redirect_chain[-1][0] == "/login/"


def test_a_logout_at_the_idp_ends_the_persons_sessions_here(identity_provider, make_user):
    from portal.models import AuditEvent

    make_user("sam@sso.example")
    other = make_user("other@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    laptop, phone = Client(), Client()
    sso_log_in(laptop, "sam@sso.example")
    sso_log_in(phone, "sam@sso.example")
    identity_provider.sign_in_as("other@sso.example")
    bystander = Client()
    sso_log_in(bystander, "other@sso.example")
    answer = laptop.get(path_of(identity_provider.logout_request("sam@sso.example")))
    assert answer.status_code == 302
    assert answer["Location"].startswith(f"{identity_provider.base}/slo?SAMLResponse=")
    assert "RelayState=idp-logout" in answer["Location"]
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert signed_in_user(bystander) == other and is_signed_in(bystander)
    ended = AuditEvent.objects.filter(event="session.ended").latest("at")
    assert ended.actor_name == "system" and ended.subject_name == "sam@sso.example"
    assert ended.details == {"count": 2, "scope": "single_logout", "by": "saml"}


def test_a_logout_request_counts_once_and_only_while_fresh(identity_provider, make_user):
    """A LogoutRequest copied from a log or a browser's history must not log the person out again."""
    make_user("sam@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    request = path_of(identity_provider.logout_request("sam@sso.example"))
    assert Client().get(request).status_code == 302
    laptop = Client()
    sso_log_in(laptop, "sam@sso.example")
    assert Client().get(request).status_code == 400  # the same request again
    assert is_signed_in(laptop)

    with time_machine.travel(timezone.now() - timedelta(minutes=10), tick=True):
        stale = path_of(identity_provider.logout_request("sam@sso.example"))
    assert Client().get(stale).status_code == 400
    assert is_signed_in(laptop)
    assert Client().get(path_of(identity_provider.logout_request("sam@sso.example"))).status_code == 302
    assert not is_signed_in(laptop)


def test_single_logout_ends_only_the_sessions_it_signed_in_when_the_address_comes_in_an_attribute(
    identity_provider, make_user, settings
):
    """Sign-in matched Sam by the mail attribute; the NameID (a UPN) is another person's address. The
    logout for that NameID logged that other person out too."""
    settings.SAML_EMAIL_ATTRIBUTE = "mail"
    make_user("sam@sso.example")
    make_user("s.smith@example.com", "correct horse battery")
    identity_provider.sign_in_as("sam@sso.example")
    identity_provider.name_id_text = "s.smith@example.com"
    sam = Client()
    sso_log_in(sam, "sam@sso.example")
    bystander = Client()
    log_in(bystander, "s.smith@example.com", "correct horse battery")
    assert is_signed_in(sam) and is_signed_in(bystander)
    assert Client().get(path_of(identity_provider.logout_request("s.smith@example.com"))).status_code == 302
    assert not is_signed_in(sam)
    assert is_signed_in(bystander)


def path_of(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_logout_request_over_http_post_is_taken_when_signed(identity_provider, make_user):
    make_user("sam@sso.example")
    identity_provider.sign_in_as("sam@sso.example")
    client = Client()
    sso_log_in(client, "sam@sso.example")
    address, fields = identity_provider.logout_request("sam@sso.example", signed=False, binding=BINDING_POST)
    assert Client().post(urlsplit(address).path, fields).status_code == 400
    assert is_signed_in(client)
    address, fields = identity_provider.logout_request("sam@sso.example", binding=BINDING_POST)
    assert Client().post(urlsplit(address).path, fields).status_code == 302
    assert not is_signed_in(client)


def test_an_idp_that_logs_out_by_post_gets_its_logout_response_by_post_signed(
    identity_provider, make_user, settings, tmp_path
):
    client = signed_in_where_the_idp_logs_out_by_post(identity_provider, make_user, settings, tmp_path)
    address, fields = identity_provider.logout_request("sam@sso.example", binding=BINDING_POST)
    page = client.post(urlsplit(address).path, fields)
    assert page.status_code == 200 and not is_signed_in(client)
    assert "You have logged out here, as your organisation's single sign-on asked." in page.content.decode()
    assert identity_provider.base in form_action_origins(page)
    answer = {"action": form_action(page.content.decode()), **form_fields(page.content.decode())}
    assert answer["action"] == f"{identity_provider.base}/slo" and answer["RelayState"] == "idp-logout"
    posted = urllib.request.Request(
        answer["action"],
        data=urlencode({"SAMLResponse": answer["SAMLResponse"], "RelayState": answer["RelayState"]}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(posted, timeout=10) as reply:  # noqa: S310  (the test IdP, on loopback)
        assert reply.read() == b"logged out"
    assert identity_provider.last_logout_response == {
        "status": "urn:oasis:names:tc:SAML:2.0:status:Success",
        "in_response_to": identity_provider.last_logout_request_id,
        "signed": True,
        "relay_state": "idp-logout",
    }


def test_nobody_but_the_idp_logs_anyone_out(identity_provider, make_user):
    """Unsigned, signed with SHA-1, or altered after signing (another person's address): refused with
    a clear answer, and the person stays signed in."""
    make_user("sam@sso.example")
    make_user("victim@sso.example")
    identity_provider.sign_in_as("victim@sso.example")
    victim = Client()
    sso_log_in(victim, "victim@sso.example")
    unsigned = identity_provider.logout_request("victim@sso.example", signed=False)
    sha1 = identity_provider.logout_request("victim@sso.example", sha1=True)
    altered = altered_request(identity_provider.logout_request("sam@sso.example"), "victim@sso.example")
    for url in (unsigned, sha1, altered, "/saml/sls/?SAMLRequest=garbage&SigAlg=x&Signature=y"):
        answer = Client().get(path_of(url))
        assert answer.status_code == 400, url
        assert "This logout request cannot be accepted." in answer.content.decode()
        assert is_signed_in(victim)


def altered_request(url, address):
    """The same signed query with the request's NameID changed (the signature no longer fits)."""
    import zlib

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()
    xml = xml.replace("sam@sso.example", address)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    changed = compressor.compress(xml.encode()) + compressor.flush()
    query["SAMLRequest"] = [base64.b64encode(changed).decode()]
    return f"{parts.path}?{urlencode({k: v[0] for k, v in query.items()})}"
