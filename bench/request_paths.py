"""The modules of the portal a request enters, in order: the message page, the login's password step and
an API send. Each stop is a call into another module of the apps than the one running; a return to a
module already left counts as a stop too, which is what makes a path long to read.

Run: `.venv/bin/python bench/request_paths.py` (SQLite in a temporary folder; nothing else is started).
Prints each path and its counts (stops, modules, returns to a module already left).
"""

import io
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FOLDER = Path(tempfile.mkdtemp(prefix="portal-paths-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="portal.settings",
    DEBUG="1",
    DATABASE_URL=f"sqlite:///{FOLDER / 'paths.sqlite3'}",
    MEDIA_ROOT=str(FOLDER / "media"),
    CACHE_DIR=str(FOLDER / "cache"),
    PORTAL_KEKS="paths:" + "p" * 43,
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
)
APPS = ("portal", "accounts", "messaging", "api")
PASSWORD = "correct horse battery"
HOST = "127.0.0.1"


def traced(call):
    """The modules of the apps entered while `call()` runs, consecutive repeats collapsed."""
    path = []

    def profile(frame, event, _arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if module.split(".")[0] in APPS and (not path or path[-1] != module):
            path.append(module)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return path


def summary(path):
    left, returns = set(), 0
    for before, now in zip(path, path[1:], strict=False):
        left.add(before)
        returns += now in left
    return {"stops": len(path), "modules": len(set(path)), "returns": returns, "path": path}


def main():
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    from accounts.models import User, portal_permission
    from messaging.holding import hold

    staff = User.objects.create_user("staff@example.com", password=PASSWORD)
    staff.user_permissions.add(portal_permission())
    reader = User.objects.create_user("reader@example.com", password=PASSWORD)
    reader.user_permissions.add(portal_permission())
    message = hold(
        sender=staff.email, sender_user=staff, recipients=[reader.email], subject="Figures",
        text="The figures.", source="compose",
    )  # fmt: skip
    printed = io.StringIO()
    call_command("api_key", "create", "--name", "paths", "--account", staff.email, "--scopes", "messages:send",
                 stdout=printed)  # fmt: skip
    key = printed.getvalue().strip()

    results = {}
    page = Client(HTTP_HOST=HOST)
    page.force_login(reader)
    url = f"/messages/{message.public_id}/"
    page.get(url)  # the first request warms what is loaded once
    results["message page (the recipient opens it)"] = summary(traced(lambda: page.get(url)))

    login = Client(HTTP_HOST=HOST)
    login.post("/login/", {"step": "identify", "email": "staff@example.com"})
    answer = {}
    results["password step"] = summary(
        traced(lambda: answer.update(r=login.post("/login/", {"step": "verify", "password": PASSWORD})))
    )
    assert answer["r"].status_code == 302, answer["r"].status_code

    api = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {key}")
    body = json.dumps({"to": ["client@outside.example"], "subject": "Statement", "text": "Attached."})
    api.post("/api/v1/messages/", body, content_type="application/json")
    sent = {}
    results["API send"] = summary(
        traced(lambda: sent.update(r=api.post("/api/v1/messages/", body, content_type="application/json")))
    )
    assert sent["r"].status_code == 201, sent["r"].content
    for name, found in results.items():
        print(f"## {name}: {found['stops']} stops, {found['modules']} modules, {found['returns']} returns")
        print(" -> ".join(found["path"]))
        print()


if __name__ == "__main__":
    main()
