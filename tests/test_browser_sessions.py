"""In a real Chromium, at a phone's width: a person sees where they are logged in and logs out elsewhere."""

import pytest
from playwright.sync_api import expect

from .test_browser_accessibility import violations
from .test_browser_support_desk import no_sideways_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def logged_in_tab(chromium, live_server, width):
    context = chromium.new_context(
        base_url=live_server.url, locale="en-GB", viewport={"width": width, "height": 800}
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.goto("/login/")
    tab.get_by_label("Email address").fill("staff@example.com")
    tab.get_by_role("button", name="Next").click()
    tab.get_by_label("Password").fill("correct horse battery")
    tab.get_by_role("button", name="Log in").click()
    expect(tab.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()
    return context, tab


def test_a_person_logs_out_everywhere_else_from_the_security_page(chromium, live_server, make_user):
    make_user("staff@example.com", "correct horse battery", name="Sam Staff")
    laptop, there = logged_in_tab(chromium, live_server, 1280)
    phone, here = logged_in_tab(chromium, live_server, 360)
    try:
        here.goto("/security/")
        sessions = here.get_by_role("table", name="Your sessions")
        expect(sessions.get_by_role("row")).to_have_count(3)  # the heading row and two sessions
        expect(sessions).to_contain_text("this session")
        assert no_sideways_scroll(here)
        here.get_by_role("link", name="Log out everywhere else").click()
        expect(here.get_by_role("heading", name="Where you are logged in")).to_be_visible()
        assert no_sideways_scroll(here) and violations(here) == []
        here.get_by_role("button", name="Log out everywhere else").click()
        expect(here.get_by_text("You are logged out of 1 other session.")).to_be_visible()
        expect(here.get_by_role("table", name="Your sessions").get_by_role("row")).to_have_count(2)
        there.goto("/")
        expect(there.get_by_label("Email address")).to_be_visible()  # the laptop must log in again
        here.goto("/")
        expect(here.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()
    finally:
        laptop.close()
        phone.close()
