"""The organisation's own look: set in the admin, checked, previewed, worn by every page and email."""

import io
import re
import subprocess
import urllib.request

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from accounts.models import User
from portal.models import Branding

from .conftest import body_html, body_text
from .helpers import free_port, gunicorn, log_in, manage, wait_until_listening
from .test_messages import deliver

pytestmark = pytest.mark.django_db(transaction=True)

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def png(size=(40, 20), colour=(200, 30, 30)):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def admin_client(make_user):
    client = Client()
    make_user("admin@example.com", is_staff=True, is_superuser=True)
    log_in(client, "admin@example.com", "correct horse battery")
    return client


FORM = {
    "name": "Northwind Legal",
    "colour": "#1f4e3d",
    "footer": "Northwind Legal LLP, 1 Quay Street. Confidential.",
    "support_contact": "Northwind IT, it@northwind.example",
    "email_subject": "{sender} sent you “{subject}” through Northwind",
    "email_introduction": "Northwind Legal holds a message for you until {expires}.",
}


def save(admin_client, **changes):
    admin_client.get("/admin/portal/branding/")  # the one row is made when the page is first opened
    data = {**FORM, **changes}
    return admin_client.post("/admin/portal/branding/1/change/", data)


def errors_of(response):
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_the_admin_has_one_branding_page(admin_client):
    response = admin_client.get("/admin/portal/branding/")
    assert response.status_code == 302 and response["Location"].endswith("/admin/portal/branding/1/change/")
    assert admin_client.get("/admin/portal/branding/add/").status_code == 403


def test_a_colour_white_text_cannot_be_read_on_is_refused_with_its_ratio(admin_client):
    page = errors_of(save(admin_client, colour="#ffcc00"))
    assert "White text on this colour has a contrast of 1.51:1; it needs at least 4.5:1 (WCAG AA)." in page
    assert "Enter the colour as #rrggbb" in errors_of(save(admin_client, colour="green"))
    assert not Branding.objects.filter(colour="#ffcc00").exists()


def test_an_svg_logo_and_an_oversized_one_are_refused(admin_client):
    svg = io.BytesIO(SVG)
    svg.name = "logo.svg"
    assert "The logo must be a PNG, JPEG or WebP image (never SVG)." in errors_of(
        save(admin_client, upload=svg)
    )
    big = io.BytesIO(b"\x89PNG" + bytes(1024 * 1024 + 10))
    big.name = "big.png"
    assert "The logo may be at most 1 MB." in errors_of(save(admin_client, upload=big))
    assert not Branding.objects.exclude(logo_version="").exists()


@pytest.mark.parametrize(
    ("subject", "says"),
    [
        ("Hello {name}", "Unknown placeholders: {name}."),
        ("Hello {sender", "Braces must come in pairs"),
        ("Hello {sender.__class__}", "Unknown placeholders: {sender.__class__}."),
        ("Hello {sender:>99}", "Write placeholders plainly"),
    ],
)
def test_placeholders_are_checked_on_save(admin_client, subject, says):
    assert says in errors_of(save(admin_client, email_subject=subject))


def test_every_page_and_email_wears_the_branding(admin_client, hold_message, make_user, mailbox):
    logo = io.BytesIO(png())
    logo.name = "logo.png"
    assert save(admin_client, upload=logo).status_code == 302
    stored = Branding.objects.get()
    assert bytes(stored.logo).startswith(b"\x89PNG") and stored.logo_version  # re-encoded, kept

    page = Client().get("/login/").content.decode()
    assert "<title>Log in · Northwind Legal</title>" in page
    assert f'src="/branding/logo-{stored.logo_version}.png"' in page
    assert "Northwind Legal LLP, 1 Quay Street. Confidential." in page
    theme = re.search(r'href="(/branding/theme-[0-9a-f]{6}\.css)"', page).group(1)
    css = Client().get(theme)
    assert css["Content-Type"].startswith("text/css") and "--brand: #1f4e3d" in css.content.decode()
    served = Client().get(f"/branding/logo-{stored.logo_version}.png")
    assert served["Content-Type"] == "image/png" and Image.open(io.BytesIO(served.content)).size == (40, 20)
    assert Client().get("/branding/logo-0000000000000000.png").status_code == 404
    assert "Northwind Legal" in Client().get("/no/such/page/").content.decode()  # error pages too

    make_user("client@outside.example", kind="external")
    message = hold_message(["client@outside.example"], subject="Merger terms")
    notice = deliver(mailbox, 1)[0]
    assert notice["From"] == "Northwind Legal <portal@localhost>"
    assert notice["Subject"].strip() == "sender@example.com sent you “Merger terms” through Northwind"
    assert "Northwind Legal holds a message for you until" in body_text(notice)
    assert "Northwind Legal LLP, 1 Quay Street. Confidential." in body_text(notice)
    assert "background:#1f4e3d" in body_html(notice) and "Northwind Legal LLP" in body_html(notice)

    reader = Client()
    reader.force_login(User.objects.get(email="client@outside.example"))
    assert (
        "<title>Merger terms · Northwind Legal</title>"
        in reader.get(f"/messages/{message.public_id}/").content.decode()
    )


def test_the_staff_contact_comes_from_the_branding(admin_client, make_user):
    save(admin_client)
    make_user("staff@example.com")
    page = log_in(Client(), "staff@example.com", "wrong password").content.decode()
    assert "contact your administrator (Northwind IT, it@northwind.example)" in page


def test_the_preview_shows_the_unsaved_look_and_saves_nothing(admin_client):
    logo = io.BytesIO(png())
    logo.name = "logo.png"
    admin_client.get("/admin/portal/branding/")
    response = admin_client.post(
        "/admin/portal/branding/1/change/",
        {**FORM, "name": "Preview Only", "upload": logo, "_preview": "1"},
    )
    page = response.content.decode()
    assert "Preview: nothing is saved yet." in page and "Preview Only" in page
    assert 'src="data:image/png;base64,' in page  # the unsaved logo, shown inline
    assert "Preview Only &lt;portal@localhost&gt;" in page  # the email's From
    assert "Northwind Legal holds a message for you until" in page
    assert "'unsafe-inline'" in response["Content-Security-Policy"]  # for the email's own styles only
    assert not Branding.objects.filter(name="Preview Only").exists()
    assert "Preview Only" not in Client().get("/login/").content.decode()


def test_a_page_costs_no_query_for_the_branding_once_it_is_cached(admin_client):
    save(admin_client)
    visitor = Client()
    visitor.get("/login/")  # reads the branding into the cache
    with CaptureQueriesContext(connection) as queries:
        page = visitor.get("/login/").content.decode()
    assert "Northwind Legal" in page and len(queries) == 0


@pytest.fixture
def redis_server(tmp_path):
    """A throwaway Redis on a free loopback port (Debian's redis-server, installed by make test)."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wait_until_listening(port)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


def _name_served(base):
    page = urllib.request.urlopen(f"{base}/login/", timeout=10).read().decode()
    return re.search(r'<a class="brand" href="/">(?:<img[^>]*> )?([^<]+)</a>', page).group(1).strip()


@pytest.mark.parametrize("shared_cache", ["file cache of one node", "redis of several nodes"])
def test_two_processes_serve_the_new_branding_right_after_the_save(
    separate_database, tmp_path, request, shared_cache
):
    env = dict(separate_database)
    nodes = [{**env, "CACHE_DIR": str(tmp_path / "cache")}, {**env, "CACHE_DIR": str(tmp_path / "cache")}]
    if shared_cache.startswith("redis"):
        url = request.getfixturevalue("redis_server")
        nodes = [{**env, "CACHE_URL": url, "CACHE_DIR": str(tmp_path / f"node-{i}")} for i in range(2)]
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "collectstatic", "--no-input", "-v0")
    with gunicorn(nodes[0], "--workers", "2") as first, gunicorn(nodes[1], "--workers", "2") as second:
        assert _name_served(first) == _name_served(second) == "Secure portal"
        for _ in range(3):  # every worker has it cached now
            _name_served(first), _name_served(second)
        manage(
            nodes[0], "shell", "-v", "0", "-c",
            "from portal.models import Branding; Branding(name='Renamed Ltd', colour='#0b4f8a').save()",
        )  # fmt: skip
        assert {_name_served(first) for _ in range(4)} == {"Renamed Ltd"}
        assert {_name_served(second) for _ in range(4)} == {"Renamed Ltd"}


class RunsCode:
    """A pickle that runs a command when it is read."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (subprocess.call, (["sh", "-c", self.command],))


def test_what_another_redis_client_writes_under_the_branding_key_runs_no_code(
    separate_database, tmp_path, redis_server
):
    """The documented shared Redis has no password: a pickle written there ran code in every page."""
    import pickle

    import redis

    from portal import branding

    env = {**separate_database, "CACHE_URL": redis_server, "CACHE_DIR": str(tmp_path / "node")}
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "collectstatic", "--no-input", "-v0")
    proof = tmp_path / "the-cache-ran-code"
    with gunicorn(env, "--workers", "1") as base:
        assert _name_served(base) == "Secure portal"
        intruder = redis.Redis.from_url(redis_server)
        for key in intruder.keys("*"):
            intruder.set(key, pickle.dumps(RunsCode(f"touch {proof}")))
        intruder.set(f":1:{branding.CACHE_KEY}", pickle.dumps(RunsCode(f"touch {proof}")))
        assert _name_served(base) == "Secure portal"  # read again from the database
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    assert not proof.exists()
    unreadable = re.search(r"^portal_cache_unreadable_values_total ([0-9.]+)$", metrics, re.MULTILINE)
    assert float(unreadable.group(1)) >= 1  # counted, where an operator looks


def test_a_cached_copy_this_version_cannot_read_is_read_again_from_the_database(settings, tmp_path):
    """A file cache survives upgrades: what an older version pickled (a class since moved) must not break
    every page and email."""
    import pickle
    import time
    import zlib

    from django.core.cache import caches

    from portal import branding

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path)}}  # fmt: skip
    cache = caches.create_connection("default")
    cache.set(branding.CACHE_KEY, "placeholder")
    path = cache._key_to_file(branding.CACHE_KEY)
    unreadable = pickle.dumps(time.time() + 3600) + zlib.compress(
        b"\x80\x04\x95\x1d\x00cnot_a_module\nLook\n."
    )
    with open(path, "wb") as handle:
        handle.write(unreadable)
    branding.cache = cache
    try:
        assert branding.current().name == settings.PORTAL_NAME
    finally:
        from django.core.cache import cache as default

        branding.cache = default


def test_the_shared_redis_cache_builds_its_client_once(redis_server, settings, monkeypatch):
    """Django's Redis cache built a `redis.Redis` (and its 170 callbacks) for every call: 13 a login."""
    import redis
    from django.core.cache import caches

    built = []
    original = redis.Redis.__init__
    monkeypatch.setattr(
        redis.Redis, "__init__", lambda self, *a, **k: built.append(1) or original(self, *a, **k)
    )
    settings.CACHES = {"default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": redis_server}}
    cache = caches.create_connection("default")
    for number in range(20):
        cache.set(f"key-{number}", number)
        assert cache.get(f"key-{number}") == number
    cache.delete("key-0")
    assert cache.get("key-0") is None and len(built) == 1
