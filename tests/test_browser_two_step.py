"""In a real Chromium: enrol an authenticator app by reading the secret, log out, log in with a code."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from .test_two_step import code_from_secret

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_enrol_then_log_in_with_a_fresh_code(page, make_user, make_profile):
    make_profile("Strict", domains="example.com", require_two_step=True)
    make_user("staff@example.com", "correct horse battery", name="Sam Staff")

    def password_step():
        page.goto("/login/?restart=1")
        page.get_by_label("Email address").fill("staff@example.com")
        page.get_by_role("button", name="Next").click()
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Log in").click()

    with time_machine.travel(timezone.now(), tick=True) as clock:
        password_step()
        expect(page.get_by_role("heading", name="Set up two-step authentication")).to_be_visible()
        expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
        secret = page.locator("[data-secret]").inner_text()
        page.get_by_label("Verification code").fill(code_from_secret(secret))
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
        expect(page.locator(".backup-codes li")).to_have_count(10)
        page.get_by_role("button", name="I have kept my backup codes").click()
        expect(page.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()
        page.get_by_role("button", name="Log out").click()

        clock.shift(timedelta(seconds=31))  # the next code of the app
        password_step()
        expect(page.get_by_role("heading", name="Two-step authentication")).to_be_visible()
        page.get_by_label("Verification code").fill(code_from_secret(secret))
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("heading", name="Welcome, Sam Staff")).to_be_visible()
