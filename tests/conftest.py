"""Fixtures: factories for people and profiles, and a real Chromium driven by Playwright."""

import os

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from the test
# are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def make_user(db):
    """make_user(email, password=None, portal=True, **fields): a user as an administrator makes one."""
    from accounts.models import User, portal_permission

    def make(email="staff@example.com", password="correct horse battery", *, portal=True, **fields):
        fields.setdefault("name", "Sam Staff")
        user = User.objects.create_user(email, password=password, **fields)
        if portal:
            user.user_permissions.add(portal_permission())
        return user

    return make


@pytest.fixture
def make_profile(db):
    from accounts.models import AuthProfile

    def make(name="Example", **fields):
        return AuthProfile.objects.create(name=name, **fields)

    return make


@pytest.fixture(scope="session")
def chromium():
    """One headless Debian Chromium for the whole run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    """A fresh browser tab (its own cookies) whose relative URLs go to the live server."""
    context = chromium.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session", autouse=True)
def plain_static_files():
    """Tests serve static files unhashed, as Django's live server finds them in the source.

    Production's hashed, compressed files are checked once, in test_portal.
    """
    from django.test import override_settings

    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield
