"""Where a request's time goes: cProfile over the portal's hot requests, in one process, on SQLite.

Run: `.venv/bin/python bench/hotspots.py [--top 15]`. Profiles the least signed-in page, opening a message,
a whole password login (every request of it) and a refused attempt at a locked address, and prints, for
each, the time per request and the functions with the most time of their own: what to look at first.
Queries are counted too. Not a benchmark (a profiler slows everything); the ratios are in RESULTS.md.
"""

import argparse
import cProfile
import io
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="portal-profile-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="bench.settings",
    DATABASE_URL=f"sqlite:///{WORK / 'db.sqlite3'}",
    PORTAL_KEKS="profile:" + "p" * 43,
    SECRET_KEY=secrets.token_urlsafe(50),
    MEDIA_ROOT=str(WORK / "media"),
    CACHE_DIR=str(WORK / "cache"),
    STATIC_ROOT=str(WORK / "static"),
    LOG_LEVEL="WARNING",
    ALLOWED_HOSTS="testserver,localhost",
)
os.environ.pop("DEBUG", None)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

PASSWORD = "correct horse battery staple"


def setup():
    from accounts.models import Throttle, User, portal_permission
    from messaging.holding import hold

    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    reader = User.objects.create_user("reader@example.com", password=PASSWORD, name="Rita Reader")
    reader.user_permissions.add(portal_permission())
    locked = User.objects.create_user("locked@example.com", password=PASSWORD)
    locked.user_permissions.add(portal_permission())
    sender = User.objects.create_user("sender@example.com", password=None)
    message = hold(
        sender=sender.email, sender_user=sender, recipients=[reader.email], subject="Figures",
        text="Figures " * 300, source="admin",
    )  # fmt: skip
    from django.utils import timezone

    Throttle.objects.create(
        scope="address",
        key="locked@example.com",
        failures=10,
        locked_until=timezone.now() + timezone.timedelta(hours=1),
    )
    return message


def log_in(client, email=None):
    client.get("/login/")
    client.post(
        "/login/", {"step": "identify", "email": email or "reader@example.com"}
    )  # shows the password page
    response = client.post("/login/", {"step": "verify", "password": PASSWORD})
    return client.get(response["Location"]) if response.status_code == 302 else response


def fresh(client):
    client.cookies.clear()
    return client


def refused(client):
    """The password posted again at the locked address (the address was given once, as in bench/load.py)."""
    if "sessionid" not in client.cookies:
        client.post("/login/", {"step": "identify", "email": "locked@example.com"})
    return client.post("/login/", {"step": "verify", "password": PASSWORD})


def profile(name, action, count, top):
    action()  # warm: imports, caches, the first compiled templates
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
        action()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(count):
        action()
    profiler.disable()
    per_request = (time.perf_counter() - started) / count * 1000
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(top)
    print(f"\n## {name}: {per_request:.1f} ms each under the profiler, {len(queries)} queries")
    for line in out.getvalue().splitlines():
        if line.strip() and ("{" in line or "/" in line or "ncalls" in line):
            print(line.replace(str(ROOT) + "/", "").replace(sys.prefix, "<venv>"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    message = setup()
    signed_in = Client()
    signed_in.force_login(message.recipients.get().user)
    profile(
        "the least signed-in page (base.html only)", lambda: signed_in.get("/bench/minimal/"), 300, args.top
    )
    profile("opening a message", lambda: signed_in.get(f"/messages/{message.public_id}/"), 200, args.top)
    # One client (one handler, as a gunicorn worker has), its cookies cleared: a new visitor each time.
    visitor = Client()
    profile("a whole password login (4 requests)", lambda: log_in(fresh(visitor)), 20, args.top)
    at_the_lock = Client()
    profile("a refused attempt at a locked address", lambda: refused(at_the_lock), 100, args.top)


if __name__ == "__main__":
    main()
