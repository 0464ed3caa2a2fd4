"""Passkeys in a real Chromium with a virtual authenticator (CDP WebAuthn): add one, sign in with no
password, and the refusals: someone else's passkey, an answer made for another site."""

import base64
import json
import re

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from accounts import twostep
from accounts.models import LoginAttempt, Passkey
from messaging.notify import deliver_due

from .helpers import GENERIC_FAILURE
from .test_browser_accessibility import violations
from .test_browser_support_desk import no_sideways_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LINK = re.compile(r"http://127\.0\.0\.1:8000(/m/[A-Za-z0-9_-]{43}/)")
TEMPORARY = re.compile(r"Temporary password: (\S+)")


def authenticator(page):
    """A platform authenticator that verifies its user (as a fingerprint would), for this tab."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    return cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]


def log_in_with_password(page, email, password):
    page.goto("/login/?restart=1")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def add_passkey(page, name="Work laptop"):
    page.goto("/security/")
    page.get_by_label("Name of the new passkey").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text(f"Your passkey “{name}” is added.")).to_be_visible()


def sign_in_with_passkey(page, email):
    page.goto("/login/?restart=1")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Sign in with a passkey").click()


@pytest.fixture
def passkey_profile(make_profile):
    return make_profile("Passkeys", domains="example.com", methods="cloud,passkey")


def test_a_staff_member_adds_a_passkey_and_signs_in_with_no_password(page, make_user, passkey_profile):
    make_user("staff@example.com", "correct horse battery", name="Sam Staff")
    authenticator(page)
    log_in_with_password(page, "staff@example.com", "correct horse battery")
    expect(page.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()
    add_passkey(page)
    expect(page.get_by_role("cell", name="Work laptop", exact=True)).to_be_visible()
    page.set_viewport_size({"width": 360, "height": 740})
    assert no_sideways_scroll(page) and violations(page) == []
    page.get_by_role("button", name="Log out").click()

    sign_in_with_passkey(page, "staff@example.com")
    expect(page.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()
    attempt = LoginAttempt.objects.order_by("-pk").first()
    assert (attempt.outcome, attempt.method) == ("success", "passkey")
    assert Passkey.objects.get().last_used_at is not None


def test_a_passkey_counts_for_both_factors_of_two_step(page, make_user, make_profile):
    make_profile("Strict", domains="example.com", methods="cloud,passkey", require_two_step=True)
    user = make_user("staff@example.com", "correct horse battery", name="Sam Staff")
    device = twostep.start_enrolment(user)
    device.confirmed = True
    device.save()
    authenticator(page)
    log_in_with_password(page, "staff@example.com", "correct horse battery")
    page.get_by_label("Verification code").fill(f"{totp(device.bin_key):06d}")
    page.get_by_role("button", name="Verify").click()
    add_passkey(page)
    page.get_by_role("button", name="Log out").click()
    sign_in_with_passkey(page, "staff@example.com")
    expect(page.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()  # no code asked


def test_someone_elses_passkey_does_not_open_this_account(page, make_user, passkey_profile):
    make_user("staff@example.com", "correct horse battery")
    make_user("other@example.com", "another strong secret")
    authenticator(page)
    log_in_with_password(page, "other@example.com", "another strong secret")
    add_passkey(page, "Other's key")
    page.get_by_role("button", name="Log out").click()

    sign_in_with_passkey(page, "staff@example.com")  # the device only holds other@'s passkey
    expect(page.get_by_role("alert")).to_contain_text(GENERIC_FAILURE)
    attempt = LoginAttempt.objects.order_by("-pk").first()
    assert (attempt.outcome, attempt.reason, attempt.method) == ("failure", "passkey_of_another", "passkey")


def test_an_answer_made_for_another_site_is_refused(page, make_user, passkey_profile):
    make_user("staff@example.com", "correct horse battery")
    authenticator(page)
    log_in_with_password(page, "staff@example.com", "correct horse battery")
    add_passkey(page)
    page.get_by_role("button", name="Log out").click()

    def as_if_from_a_look_alike(route):
        """A phishing page relaying the answer: the browser signed for its own origin, not ours."""
        fields = dict(re.findall(r"([^&=]+)=([^&]*)", route.request.post_data or ""))
        if fields.get("action") != "verify":
            return route.continue_()
        from urllib.parse import quote, unquote_plus, urlencode

        credential = json.loads(unquote_plus(fields["credential"]))
        client_data = json.loads(base64.urlsafe_b64decode(credential["response"]["clientDataJSON"] + "=="))
        client_data["origin"] = "https://portal-login.example"
        forged = base64.urlsafe_b64encode(json.dumps(client_data).encode()).decode().rstrip("=")
        credential["response"]["clientDataJSON"] = forged
        fields = {k: unquote_plus(v) for k, v in fields.items()} | {"credential": json.dumps(credential)}
        return route.continue_(post_data=urlencode(fields, quote_via=quote))

    page.route(
        re.compile(r"/login/(\?.*)?$"), as_if_from_a_look_alike
    )  # the address page may carry ?restart=1
    sign_in_with_passkey(page, "staff@example.com")
    expect(page.get_by_role("alert")).to_contain_text(GENERIC_FAILURE)
    attempt = LoginAttempt.objects.order_by("-pk").first()
    assert (attempt.outcome, attempt.reason) == ("failure", "passkey_failed")


def test_a_recipient_adds_a_passkey_after_the_link_and_opens_the_next_link_with_it(
    page, hold_message, mailbox
):
    hold_message(["client@outside.example"])
    deliver_due()
    emails = mailbox.wait_for(2)
    body = "\n".join(m.get_body(preferencelist=("plain",)).get_content() for m in emails)
    link, temporary = LINK.search(body).group(1), TEMPORARY.search(body).group(1)
    authenticator(page)

    page.goto(link)
    page.get_by_label("Password").fill(temporary)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("New password", exact=True).fill("my own secret 42")
    page.get_by_label("Confirm new password").fill("my own secret 42")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("The figures are attached.")).to_be_visible()
    page.get_by_role("link", name="add a passkey").click()
    page.get_by_label("Name of the new passkey").fill("My phone")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("Your passkey “My phone” is added.")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    page.goto(link)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_text("The figures are attached.")).to_be_visible()
    attempt = LoginAttempt.objects.order_by("-pk").first()
    assert (attempt.email_entered, attempt.method) == ("client@outside.example", "passkey")
