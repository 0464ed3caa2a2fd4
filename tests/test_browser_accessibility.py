"""In a real Chromium: axe-core finds no accessibility violation on the portal's pages."""

import pytest
from axe_playwright_python.sync_playwright import Axe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def violations(page):
    """axe-core's violations on the page as it is now: (rule, impact, first elements)."""
    found = Axe().run(page).response["violations"]
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in found]


def test_the_login_pages_and_the_personal_portal_have_no_violations(page, make_user, hold_message):
    staff = make_user("staff@example.com", "correct horse battery", name="Sam Staff")
    message = hold_message(
        ["staff@example.com"],
        html="<h2>Figures</h2><p>See the <b>attached</b> file.</p><ul><li>one</li></ul>",
    )
    mine = hold_message(["client@outside.example", "other@outside.example"], sender=staff)
    seen = {}
    page.goto("/login/")
    seen["identify"] = violations(page)
    page.get_by_label("Email address").fill("staff@example.com")
    page.get_by_role("button", name="Next").click()
    seen["password"] = violations(page)
    page.get_by_label("Password").fill("a wrong password")
    page.get_by_role("button", name="Log in").click()
    seen["failure"] = violations(page)
    page.goto("/password/forgot/")
    seen["forgot password"] = violations(page)
    page.goto("/browsers/")
    seen["browsers"] = violations(page)
    page.goto("/check/")
    page.get_by_label("Check code from the email").fill("zzzz-zzzz")
    page.get_by_role("button", name="Check").click()
    seen["check"] = violations(page)
    page.goto("/login/")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    for name, path in (
        ("inbox", "/"),
        ("message", f"/messages/{message.public_id}/"),
        ("reply", f"/messages/{message.public_id}/reply/"),
        ("compose", "/messages/new/"),
        ("sent", "/messages/sent/"),
        ("security", "/security/"),
        ("change password", "/password/change/"),
        ("log out", "/logout/"),
        ("deleted", "/messages/deleted/"),
        ("the sender's tracking", f"/messages/{mine.public_id}/"),
        ("print", f"/messages/{message.public_id}/print/"),
        ("reply all", f"/messages/{message.public_id}/reply-all/"),
    ):
        page.goto(path)
        seen[name] = violations(page)
    assert seen == {name: [] for name in seen}


def test_an_external_recipients_pages_have_no_violations(page, hold_message, mailbox, make_user):
    from django.utils import timezone

    from messaging.models import Message

    from .test_messages import link_and_password

    message = hold_message(["client@outside.example"], text="For the client.")
    link, temporary = link_and_password(mailbox, "client@outside.example")  # link: the path
    seen = {}
    page.goto(link)
    seen["login for the link"] = violations(page)
    page.get_by_label("Password").press_sequentially(temporary)
    page.get_by_role("button", name="Log in").click()
    seen["forced change"] = violations(page)
    page.get_by_label("New password", exact=True).fill("client chosen secret 7")
    page.get_by_label("Confirm new password").fill("client chosen secret 7")
    page.get_by_role("button", name="Change password").click()
    seen["message"] = violations(page)
    Message.objects.filter(pk=message.pk).update(expires_at=timezone.now())
    page.goto(link)
    seen["expired"] = violations(page)
    make_user("staff@example.com", "correct horse battery")
    page.get_by_role("button", name="Log out").click()
    page.goto("/login/")
    page.get_by_label("Email address").fill("staff@example.com")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.goto(link)
    seen["not for you"] = violations(page)
    assert seen == {name: [] for name in seen}


def test_the_single_sign_on_pages_have_no_violations(
    page, live_server, identity_provider, make_user, settings
):
    from accounts.methods import saml
    from accounts.models import AuthProfile

    settings.PORTAL_BASE_URL = live_server.url
    identity_provider.trust(saml.sp_metadata())
    AuthProfile.objects.filter(domains="sso.example").update(methods="saml,cloud")
    make_user("sam@sso.example")
    seen = {}
    page.goto("/login/")
    page.get_by_label("Email address").fill("sam@sso.example")
    page.get_by_role("button", name="Next").click()
    seen["choice"] = violations(page)
    page.get_by_role("link", name="Continue with single sign-on").click()  # the IdP refuses
    page.get_by_role("alert").wait_for()
    seen["failure"] = violations(page)
    assert seen == {name: [] for name in seen}
