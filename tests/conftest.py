"""Fixtures: factories for people and profiles, and a real Chromium driven by Playwright."""

import email
import email.policy
import inspect
import os
import re
import secrets
import threading

import pytest

from .helpers import free_port

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from the test
# are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# The portal's processes that tests start (gunicorn, the intake, commands) run with DEBUG off, where
# the built-in development SECRET_KEY is refused: they inherit this one.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

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


@pytest.fixture
def tab_for(chromium, live_server):
    """tab_for(user): a browser tab signed in as that user (the login journeys are tested elsewhere)."""
    contexts = []

    def open_tab(user):
        from django.conf import settings
        from django.test import Client

        client = Client()
        client.force_login(user)
        context = chromium.new_context(base_url=live_server.url, locale="en-GB")
        context.set_default_timeout(10_000)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])
        contexts.append(context)
        return context.new_page()

    yield open_tab
    for context in contexts:
        context.close()


TEST_KEK = "test1:" + "q" * 43  # 32 bytes, base64url


@pytest.fixture(scope="session", autouse=True)
def test_settings(tmp_path_factory):
    """Settings of the whole run: a key-encryption key, a throwaway media folder, plain static files.

    Tests serve static files unhashed, as Django's live server finds them in the source;
    production's hashed, compressed files are checked once, in test_portal.
    """
    from django.test import override_settings

    storages = {
        "default": {"BACKEND": "messaging.storage.DurableFileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    media = tmp_path_factory.mktemp("media")
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(STORAGES=storages, PORTAL_KEKS=[TEST_KEK], MEDIA_ROOT=str(media), CACHES=caches):
        yield


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache: the branding of one test is not another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def hold_message(db, make_user):
    """hold_message(recipients=[...], **fields): a message held as the compose page would."""
    from messaging.holding import hold

    def make(recipients=("client@outside.example",), sender=None, **fields):
        if sender is None:
            sender = make_user("sender@example.com", name="Sue Sender")
        fields.setdefault("subject", "Quarterly figures")
        fields.setdefault("text", "The figures are attached.")
        fields.setdefault("source", "compose")
        return hold(sender=sender.email, sender_user=sender, recipients=list(recipients), **fields)

    return make


class Mailbox:
    """Every email the portal sent to the loopback SMTP server, parsed."""

    def __init__(self):
        self.messages = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message.raw = envelope.content  # the bytes as sent, for signature checks
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count=1, timeout=10):
        """The first `count` messages, waiting for them to arrive."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} emails, {len(self.messages)} arrived")
            return self.messages[:count]

    def to(self, address):
        return [m for m in self.messages if address in m["To"]]

    def start(self, port):
        from aiosmtpd.controller import Controller

        self.port = port
        self.controller = Controller(self, hostname="127.0.0.1", port=port)
        self.controller.start()

    def go_down(self):
        """The relay stops answering (connections are refused)."""
        self.controller.stop()
        self.controller = None

    def come_back(self):
        self.start(self.port)


@pytest.fixture
def intake():
    """The SMTP intake on a loopback port, in this process (so it holds into the test database)."""
    from messaging.intake import controller

    server = controller("127.0.0.1", free_port())
    server.start()
    yield server.port
    server.stop()


@pytest.fixture
def mailbox(settings):
    """A real SMTP server (aiosmtpd) on loopback; the portal sends its email there."""
    box = Mailbox()
    box.start(free_port())
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", box.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield box
    if box.controller is not None:
        box.controller.stop()


def body_text(message):
    """The plain-text part of an email."""
    return message.get_body(preferencelist=("plain",)).get_content()


def body_html(message):
    return message.get_body(preferencelist=("html",)).get_content()


@pytest.fixture
def separate_database(tmp_path, django_db_blocker):
    """A database of its own for server processes: a file for SQLite, a new database on PostgreSQL."""
    import os

    from django.db import connection

    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG"}}
    env.update(PORTAL_KEKS=TEST_KEK, MEDIA_ROOT=str(tmp_path / "media"), STATIC_ROOT=str(tmp_path / "static"))
    env["CACHE_DIR"] = str(tmp_path / "cache")

    if connection.vendor == "postgresql":
        settings = connection.settings_dict
        name = f"portal_{os.getpid()}_{free_port()}"
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
        env["DATABASE_URL"] = f"postgres://{settings['USER']}@{host}:{port}/{name}"
        yield env
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
        yield env


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory):
    """One slapd for the run (started again by `directory` if a test stopped it)."""
    from .directory import Slapd

    server = Slapd(tmp_path_factory.mktemp("slapd"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def directory(slapd_server, settings, db):
    """The company directory, running, with the portal's LDAP_* settings pointing at it."""
    slapd_server.thaw()
    slapd_server.start()
    for name, value in slapd_server.settings().items():
        setattr(settings, name, value)
    yield slapd_server
    slapd_server.thaw()


@pytest.fixture
def corp_profile(make_profile):
    """The profile of corp.example: network passwords only."""
    return make_profile("Corp", domains="corp.example", methods="network")


@pytest.fixture(scope="session")
def idp_server(tmp_path_factory):
    """One SAML identity provider for the run (pysaml2, on a loopback port)."""
    from .identity_provider import IdentityProvider

    server = IdentityProvider(tmp_path_factory.mktemp("idp"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def identity_provider(idp_server, settings, db, make_profile):
    """Single sign-on on: the portal trusts the IdP's metadata, the IdP the portal's; sso.example uses it.

    Set settings.PORTAL_BASE_URL before asking for it (the ACS address is in the portal's metadata).
    """
    from accounts.methods import saml

    settings.SAML_IDP_METADATA = str(idp_server.metadata_file)
    idp_server.trust(saml.sp_metadata())
    idp_server.refuse()
    idp_server.sign_assertions = True
    idp_server.opaque_name_id = False
    idp_server.name_id_text = None
    idp_server.sha1 = False
    idp_server.last_logout = None
    make_profile("Single sign-on", domains="sso.example", methods="saml")
    return idp_server


OIDC_PORTAL_BASE_URL = "http://testserver"  # where the test provider sends browsers back (the test client)


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory):
    """One real OpenID provider for the run (django-oauth-toolkit in a process of its own)."""
    from .openid_provider import OpenIdProvider

    server = OpenIdProvider(tmp_path_factory.mktemp("op"), free_port(), OIDC_PORTAL_BASE_URL)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def openid_provider(oidc_server, settings, db, make_profile):
    """OpenID Connect on: the portal is the provider's client; oidc.example signs in there."""
    from accounts.methods import oidc

    from .openid_provider import CLIENT_ID, CLIENT_SECRET

    settings.PORTAL_BASE_URL = OIDC_PORTAL_BASE_URL
    settings.OIDC_ISSUER = oidc_server.issuer
    settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    oidc.forget_provider()
    make_profile("OpenID", domains="oidc.example", methods="oidc")
    yield oidc_server
    oidc.forget_provider()


class ObjectStore:
    """moto's standalone S3 server on loopback: a real S3 API over HTTP, for the portal and for boto3."""

    def __init__(self, port):
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"

    def start(self):
        import subprocess
        import sys
        from pathlib import Path

        from .helpers import wait_until_listening

        server = Path(sys.executable).parent / "moto_server"
        self.process = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_listening(self.port)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )

    def new_bucket(self):
        import secrets

        name = f"portal-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket):
        return [o["Key"] for o in self.client().list_objects_v2(Bucket=bucket).get("Contents", [])]

    def read(self, bucket, key):
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def environment(self, bucket):
        """The environment a portal process needs to keep its attachments in this bucket."""
        return {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_S3_REGION_NAME": "us-east-1",
        }


@pytest.fixture(scope="session")
def object_store_server():
    store = ObjectStore(free_port())
    store.start()
    yield store
    store.stop()


@pytest.fixture
def bucket(object_store_server, settings):
    """A new, empty bucket; this process keeps its attachments there (through django-storages)."""
    name = object_store_server.new_bucket()
    for key, value in object_store_server.environment(name).items():
        setattr(settings, key, value)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage"},
    }
    yield name


@pytest.fixture(scope="session")
def clamd_server(tmp_path_factory):
    """Debian's clamd with the EICAR signature only, for the whole run: (unix URL, tcp URL)."""
    from .clamav import clamd

    with clamd(tmp_path_factory.mktemp("clamd")) as addresses:
        yield addresses


@pytest.fixture(scope="session")
def clamd_with_debians_limits(tmp_path_factory):
    """Debian's clamd limits, scaled down 25 times (streams of at most 1 MiB): (unix URL, config file)."""
    from .clamav import DEBIAN_SCALED_DOWN, clamd

    folder = tmp_path_factory.mktemp("clamd-debian")
    with clamd(folder, DEBIAN_SCALED_DOWN) as addresses:
        yield addresses[0], folder / "clamd.conf"


# The system suite: tests that start processes (servers, browsers, clamd, gunicorn, the installer).
# `make test` runs everything; `make test-fast` leaves these out.
SYSTEM_FIXTURES = {
    "chromium", "page", "tab_for", "live_server", "separate_database", "slapd_server", "directory",
    "idp_server", "identity_provider", "oidc_server", "openid_provider", "object_store_server", "bucket",
    "clamd_server", "clamd_with_debians_limits", "redis_server", "syslog",
}  # fmt: skip
STARTS_PROCESSES = re.compile(
    r"\b(gunicorn|manage|_run_manage|subprocess\.\w+|Rsyslog|clamd|Cluster|install)\("
)


def pytest_collection_modifyitems(items):
    for item in items:
        function = getattr(item, "function", None)
        source = inspect.getsource(function) if function is not None else ""
        if SYSTEM_FIXTURES & set(getattr(item, "fixturenames", ())) or STARTS_PROCESSES.search(source):
            item.add_marker(pytest.mark.system)
