"""In a real Chromium: axe-core finds no accessibility violation on the portal's pages."""

import pytest
from axe_playwright_python.sync_playwright import Axe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def violations(page):
    """axe-core's violations on the page as it is now: (rule, impact, first elements)."""
    found = Axe().run(page).response["violations"]
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in found]


def test_the_login_pages_and_the_personal_portal_have_no_violations(page, make_user, hold_message):
    make_user("staff@example.com", "correct horse battery", name="Sam Staff")
    message = hold_message(
        ["staff@example.com"],
        html="<h2>Figures</h2><p>See the <b>attached</b> file.</p><ul><li>one</li></ul>",
    )
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
    ):
        page.goto(path)
        seen[name] = violations(page)
    assert seen == {name: [] for name in seen}
