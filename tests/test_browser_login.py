"""In a real Chromium: a staff member logs in, and a failed login says the exact words."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import LoginAttempt

from .helpers import GENERIC_FAILURE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_staff_member_logs_in_with_a_cloud_password_and_sees_the_portal(page, make_user):
    make_user("staff@example.com", "correct horse battery", name="Sam Staff")
    page.goto("/")
    page.get_by_label("Email address").fill("staff@example.com")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_label("Password").press("Enter")  # by keyboard, as many people do

    expect(page.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    expect(page.get_by_label("Email address")).to_be_visible()


def test_a_wrong_password_shows_the_exact_message_and_a_reference_the_database_holds(page, make_user):
    make_user("staff@example.com", "correct horse battery")
    page.goto("/login/")
    page.get_by_label("Email address").fill("staff@example.com")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Log in").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(GENERIC_FAILURE)
    reference = alert.locator(".reference").inner_text()
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}", reference)
    attempt = LoginAttempt.objects.get(reference=reference)
    assert (attempt.email_entered, attempt.outcome, attempt.reason) == (
        "staff@example.com",
        "failure",
        "bad_password",
    )
    assert attempt.browser.startswith("Chrome")
    expect(alert).to_contain_text(attempt.browser)
    expect(alert).to_contain_text("on this device")  # the local time, from the portal's own script


def test_the_pages_load_nothing_from_another_origin(page, live_server, make_user):
    make_user("staff@example.com")
    origins = set()
    page.on("request", lambda request: origins.add(re.match(r"^\w+://[^/]+", request.url)[0]))
    page.goto("/login/")
    page.get_by_label("Email address").fill("staff@example.com")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()
    assert origins == {live_server.url}
    # The stylesheet really loaded (the CSP allowed it): the header has the portal's colour.
    colour = page.locator(".site-header").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(11, 79, 138)"


def test_the_login_works_on_a_phone_sized_screen(page, make_user):
    make_user("staff@example.com")
    page.set_viewport_size({"width": 360, "height": 640})
    page.goto("/login/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    page.get_by_label("Email address").fill("staff@example.com")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Password")).to_be_visible()


def test_a_directory_user_logs_in_with_the_network_password(page, directory, corp_profile):
    page.goto("/login/")
    page.get_by_label("Email address").fill("alice@corp.example")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill("alice network pass")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome, Alice Directory")).to_be_visible()
    assert LoginAttempt.objects.get(outcome="success").method == "network"


def test_openid_connect_through_the_providers_site_and_out_again(
    page, live_server, openid_provider, make_user, settings
):
    """The address leads to the provider (another origin: the CSP lets the form's redirect go there),
    which sends the browser back signed in; logging out goes by the provider's end-session page."""
    settings.PORTAL_BASE_URL = live_server.url
    openid_provider.register_portal(live_server.url)
    make_user("olive@oidc.example", name="Olive Open")
    answer = page.context.request.post(
        f"{openid_provider.base}/test-login/", form={"email": "olive@oidc.example", "name": "Olive Open"}
    )
    assert answer.ok  # the browser's session at the provider
    page.goto("/login/")
    page.get_by_label("Email address").fill("olive@oidc.example")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Welcome, Olive Open")).to_be_visible()
    assert LoginAttempt.objects.latest("at").method == "oidc"

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    assert page.url == f"{live_server.url}/login/"
    who = page.context.request.get(f"{openid_provider.base}/who/")
    assert who.text() == ""  # logged out at the provider too


def test_single_sign_on_through_the_identity_providers_site(
    page, live_server, identity_provider, make_user, settings
):
    """The IdP (another site) posts its answer back: the session cookie (SameSite=Lax) is not sent
    with that post, so the portal hands it on to the login on its own site, by script."""
    from accounts.methods import saml

    settings.PORTAL_BASE_URL = live_server.url
    identity_provider.trust(saml.sp_metadata())
    make_user("sam@sso.example", name="Sam Single")
    page.goto("/login/")
    page.get_by_label("Email address").fill("sam@sso.example")
    page.get_by_role("button", name="Next").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(GENERIC_FAILURE)  # the IdP refused: a failure, no loop back to it
    assert LoginAttempt.objects.get().reason == "saml_error"

    identity_provider.sign_in_as("sam@sso.example")
    page.get_by_role("link", name="Continue with single sign-on").click()
    expect(page.get_by_role("heading", name="Welcome, Sam Single")).to_be_visible()
    assert LoginAttempt.objects.latest("at").method == "saml"

    # Logging out goes by the IdP (single logout; the CSP lets the logout form lead there) and back.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    assert page.url == f"{live_server.url}/login/"
    assert identity_provider.last_logout["name_id"] == "sam@sso.example"
