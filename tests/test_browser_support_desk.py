"""In a real Chromium: the browser matrix, the Copy button of the failure box, and pages on a phone."""

import re

import pytest
from playwright.sync_api import expect

from .helpers import GENERIC_FAILURE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_browsers_page_names_the_browsers_and_flags_the_visitors_own(page):
    page.goto("/login/")
    page.get_by_role("link", name="Supported browsers").click()
    expect(page.get_by_role("heading", name="Supported browsers", level=1)).to_be_visible()
    for name in ("Microsoft Edge", "Mozilla Firefox", "Safari on macOS", "Samsung Internet"):
        expect(page.get_by_role("cell", name=name)).to_be_visible()
    expect(page.get_by_role("cell", name="Google Chrome (yours)")).to_be_visible()
    version = int(re.search(r"Chrome (\d+)", page.locator(".your-browser strong").inner_text())[1])
    assert version >= 120
    expect(page.get_by_text("Your browser is supported.")).to_be_visible()


def fail_a_login(page, address="staff@example.com"):
    page.goto("/login/")
    page.get_by_label("Email address").fill(address)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text(GENERIC_FAILURE)


def test_copy_puts_the_facts_on_the_clipboard_one_per_line(chromium, live_server, make_user):
    make_user("staff@example.com")
    context = chromium.new_context(base_url=live_server.url, locale="en-GB", timezone_id="Europe/London")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    try:
        fail_a_login(page)
        reference = page.locator(".reference").inner_text()
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
        lines = page.evaluate("navigator.clipboard.readText()").splitlines()
    finally:
        context.close()
    assert lines[0] == f"Reference code: {reference}"
    assert lines[1] == f"URL used: {live_server.url}/login/"
    assert lines[2] == "Email address: staff@example.com"
    assert re.fullmatch(r"Date and time: \d+ \w+ \d{4}, \d\d:\d\d:\d\d UTC \(.+ on this device\)", lines[3])
    assert re.search(r"GMT|BST", lines[3])  # the device's own time zone too
    assert re.fullmatch(r"Browser: Chrome \d+ on Linux", lines[4])
    assert len(lines) == 5


def test_without_javascript_the_facts_stay_as_text_and_no_dead_button_shows(chromium, live_server, make_user):
    make_user("staff@example.com")
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        fail_a_login(page)
        expect(page.locator(".facts")).to_contain_text("staff@example.com")
        expect(page.get_by_role("button", name="Copy")).to_have_count(0)
    finally:
        context.close()


LONG_ADDRESS = "a.very.long.first.name.and.an.even.longer.last.name.of.somebody@subdivision.example.com"


def no_sideways_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_no_page_scrolls_sideways_on_a_phone(chromium, live_server, make_user, hold_message):
    sender = make_user(LONG_ADDRESS, name="Sam Staff")
    message = hold_message(
        [LONG_ADDRESS, "another.rather.long.address.for.a.client@outside-organisation.example"],
        sender=sender,
        subject="Quarterly figures for the subsidiary companies, " + "with-a-very-long-unbroken-word" * 3,
        text="See " + "https://example.com/" + "x" * 200,
    )
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740})
    page = context.new_page()
    seen = {}
    try:
        page.goto("/login/")
        seen["login"] = no_sideways_scroll(page)
        page.goto("/browsers/")
        seen["browsers"] = no_sideways_scroll(page)
        page.goto("/password/forgot/")
        seen["forgot password"] = no_sideways_scroll(page)
        page.goto("/check/")
        seen["check"] = no_sideways_scroll(page)
        fail_a_login(page, LONG_ADDRESS)
        seen["failure"] = no_sideways_scroll(page)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()
        for name, path in (
            ("inbox", "/"),
            ("message", f"/messages/{message.public_id}/"),
            ("compose", "/messages/new/"),
            ("sent", "/messages/sent/"),
            ("deleted", "/messages/deleted/"),
            ("print", f"/messages/{message.public_id}/print/"),
            ("security", "/security/"),
            ("change password", "/password/change/"),
            ("log out", "/logout/"),
        ):
            page.goto(path)
            seen[name] = no_sideways_scroll(page)
    finally:
        context.close()
    assert seen == {name: True for name in seen}
