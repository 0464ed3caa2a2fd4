"""`make demo`'s own steps, each in a process of its own: what they print is true and it works."""

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest

from .helpers import gunicorn, manage

pytestmark = pytest.mark.django_db(transaction=True)


class Visitor:
    """A browser's part over plain HTTP: cookies, and the CSRF token of the page last seen."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.page = ""

    def get(self, path):
        self.page = self.opener.open(self.base + path, timeout=30).read().decode()
        return self.page

    def post(self, path, fields):
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.page).group(1)
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = urllib.request.Request(self.base + path, data=data, headers={"Referer": self.base + path})
        self.page = self.opener.open(request, timeout=30).read().decode()
        return self.page


def test_the_demo_credentials_link_and_temporary_password_work(separate_database):
    env = {
        **separate_database,
        "DEBUG": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
    }
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "collectstatic", "--no-input", "-v0")
    users = manage(env, "demo_data")
    assert "staff         staff@example.com  password: demo-staff-Passw0rd!" in users
    assert "Held a demo message for recipient@outside.example" in manage(env, "demo_message")
    emails = manage(env, "worker", "--once")  # the worker prints them, as in the demo
    link = re.search(r"http://127\.0\.0\.1:8000(/m/[A-Za-z0-9_-]{43}/)", emails).group(1)
    temporary = re.search(r"Temporary password: (\S+)", emails).group(1)

    with gunicorn(env) as base:
        staff = Visitor(base)
        staff.get("/login/")
        staff.post("/login/", {"step": "identify", "email": "staff@example.com"})
        assert "Welcome, Sam Staff" in staff.post(
            "/login/", {"step": "verify", "password": "demo-staff-Passw0rd!"}
        )

        recipient = Visitor(base)
        assert "Logging in as <strong>recipient@outside.example</strong>" in recipient.get(link)
        assert "Change your password" in recipient.post("/login/", {"step": "verify", "password": temporary})
        new = "recipient chosen secret 9"
        page = recipient.post(
            "/password/change/", {"step": "change", "new_password1": new, "new_password2": new}
        )
        assert "Your contract (demo)" in page and "Please find the contract attached." in page
