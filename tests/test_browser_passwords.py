"""In a real Chromium: the forgotten-password journey, with the email read from a real SMTP server."""

import re

import pytest
from playwright.sync_api import expect

from messaging.notify import deliver_due

from .conftest import body_text
from .helpers import GENERIC_FAILURE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_forgot_password_temporary_password_forced_change_and_the_new_password(page, make_user, mailbox):
    make_user("staff@example.com", "my old password 1", name="Sam Staff")
    page.goto("/login/")
    page.get_by_label("Email address").fill("staff@example.com")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("link", name="Forgot your password?").click()

    page.get_by_label("Email address").fill("staff@example.com")
    page.get_by_role("button", name="Send temporary password").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    deliver_due()  # a round of the notification worker
    (message,) = mailbox.wait_for(1)
    temporary = re.search(r"Temporary password: (\S+)", body_text(message)).group(1)

    page.get_by_role("link", name="Back to log in").click()
    expect(page.get_by_text("Logging in as staff@example.com")).to_be_visible()  # the address is kept
    page.get_by_label("Password").press_sequentially(temporary)  # typed by hand, key by key
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("my new password 2")
    page.get_by_label("Confirm new password").fill("my new password 2")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    for password, works in ((temporary, False), ("my old password 1", False), ("my new password 2", True)):
        page.goto("/login/?restart=1")
        page.get_by_label("Email address").fill("staff@example.com")
        page.get_by_role("button", name="Next").click()
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        if works:
            expect(page.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()
        else:
            expect(page.get_by_role("alert")).to_contain_text(GENERIC_FAILURE)
