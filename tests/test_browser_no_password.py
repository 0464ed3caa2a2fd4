"""In a real Chromium: a recipient reads a message with an emailed code and no password, and checks
that a notification is real."""

import re

import pytest
from playwright.sync_api import expect

from messaging.notify import deliver_due

from .test_browser_accessibility import violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LINK = re.compile(r"http://127\.0\.0\.1:8000(/m/[A-Za-z0-9_-]{43}/)")
CHECK = re.compile(r"Check code: ([a-z0-9]{4}-[a-z0-9]{4})")
CODE = re.compile(r"^(\d{6})\r?$", re.MULTILINE)


def text(email):
    return email.get_body(preferencelist=("plain",)).get_content()


def test_a_recipient_reads_a_message_with_an_emailed_code(page, hold_message, mailbox, settings):
    settings.RECIPIENT_SIGN_IN = "code"
    hold_message(["client@outside.example"])
    deliver_due()
    notice = mailbox.wait_for(1)[0]
    assert "You need no password" in text(notice)
    page.goto(LINK.search(text(notice)).group(1))
    expect(page.get_by_text("We will email you a code to log in with. You need no password.")).to_be_visible()
    page.get_by_role("button", name="Email me a code").click()
    expect(page.get_by_text("A code is on its way to your email.")).to_be_visible()
    assert violations(page) == []
    deliver_due()
    code = CODE.search(text(mailbox.wait_for(2)[1])).group(1)
    page.get_by_label("Code from the email").fill(code)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("The figures are attached.")).to_be_visible()


def test_check_answers_for_a_real_and_a_forged_code(page, hold_message, mailbox):
    hold_message(["client@outside.example"])
    deliver_due()
    notice = next(m for m in mailbox.wait_for(2) if "secure message from" in m["Subject"])
    real = CHECK.search(text(notice)).group(1)
    page.goto("/login/")
    page.get_by_role("link", name="the check page").click()
    page.get_by_label("Check code from the email").fill(real)
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("heading", name="Yes, this portal sent that email.")).to_be_visible()
    expect(page.get_by_text("c***@outside.example")).to_be_visible()
    assert violations(page) == []
    page.get_by_label("Check code from the email").fill("zzzz-zzzz")
    page.get_by_role("button", name="Check").click()
    expect(
        page.get_by_role("heading", name="No, this portal sent no email with that check code.")
    ).to_be_visible()
