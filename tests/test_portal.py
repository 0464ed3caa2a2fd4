"""Cross-cutting behaviour: the health check, security headers, production settings."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from .conftest import TEST_KEK
from .helpers import gunicorn

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def test_healthz_answers_200_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}


def test_healthz_answers_503_when_the_database_does_not(tmp_path):
    """A real gunicorn whose database cannot be reached, as a load balancer would see it."""
    unreachable = (
        f"sqlite:///{tmp_path}/missing-folder/portal.sqlite3"
        if connection.vendor == "sqlite"
        else "postgres://postgres@127.0.0.1:1/test"
    )
    environment = _environment(DATABASE_URL=unreachable, PORTAL_KEKS=TEST_KEK)
    with gunicorn(environment, "--workers", "1") as base:
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(f"{base}/healthz", timeout=10)
    assert answer.value.code == 503
    assert json.loads(answer.value.read())["database"] == "down"


def test_pages_send_the_security_headers(client):
    response = client.get("/login/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "http:" not in csp and "https:" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]


def test_session_and_csrf_cookies_are_httponly_and_samesite(client, make_user):
    from .helpers import log_in

    make_user("staff@example.com")
    log_in(client, "staff@example.com", "correct horse battery")
    for name in ("sessionid", "csrftoken"):
        cookie = client.cookies[name]
        assert cookie["httponly"] and cookie["samesite"] == "Lax"


def _environment(**env):
    """This process's environment less the test-only and portal settings, plus `env`."""
    skip = {"DEBUG", "PORTAL_BASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL"}
    environment = {k: v for k, v in os.environ.items() if k not in skip}
    environment.update(env)
    return environment


def _dkim_key(folder):
    from portal import dkim

    path = folder / "dkim.pem"
    path.write_bytes(dkim.new_key()[0])
    return str(path)


def _run_manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_production_environment_of_the_readme_passes_check_deploy(tmp_path, clamd_server):
    result = _run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="k3y-" + "x9Qv7TzL2mR8pW4sN6bY1cF5hJ0dG3aK" * 2,
        DKIM_DOMAIN="example.com",
        DEFAULT_FROM_EMAIL="Secure portal <portal@example.com>",
        EMAIL_HOST="relay.example.com",
        DKIM_SELECTOR="portal",
        DKIM_PRIVATE_KEY_FILE=_dkim_key(tmp_path),
        PORTAL_BASE_URL="https://portal.example.com",
        ALLOWED_HOSTS="portal.example.com",
        PORTAL_KEKS=TEST_KEK,
        MEDIA_ROOT=str(tmp_path),
        CLAMD_ADDRESS=clamd_server[0],
        CLAMD_CONFIG_FILE=str(Path(clamd_server[0].removeprefix("unix://")).parent / "clamd.conf"),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output and "ERRORS" not in output
    assert f"Attachments: local folder {tmp_path}: a test object was written, read and deleted." in output

    assert not list(tmp_path.rglob("*.txt"))  # the test object is gone again


def test_check_deploy_flags_plain_http(tmp_path):
    result = _run_manage("check", "--deploy", PORTAL_KEKS=TEST_KEK, MEDIA_ROOT=str(tmp_path))
    assert "HSTS" in result.stdout + result.stderr or "SECURE_HSTS" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "key",
    [
        None,
        "django-insecure-development-key-do-not-use-in-production",
        "short-but-secret-0123456789",
        "a" * 60,
    ],
    ids=["unset", "built-in", "short", "plain"],
)
def test_no_process_starts_in_production_with_a_weak_secret_key(tmp_path, key):
    """Sessions, CSRF tokens and backup codes are keyed with SECRET_KEY: a key anyone can know or guess
    stops every command, like missing key-encryption keys."""
    environment = _environment(PORTAL_KEKS=TEST_KEK, MEDIA_ROOT=str(tmp_path))
    environment.pop("SECRET_KEY", None)
    if key is not None:
        environment["SECRET_KEY"] = key
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "(portal.E003) SECRET_KEY" in result.stderr


def test_a_gunicorn_worker_refuses_the_development_secret_key(tmp_path):
    environment = _environment(PORTAL_KEKS=TEST_KEK, MEDIA_ROOT=str(tmp_path))
    environment.pop("SECRET_KEY", None)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    result = subprocess.run(
        [str(gunicorn), "portal.wsgi", "-b", "127.0.0.1:0"], cwd=ROOT, env=environment,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "The portal cannot start: SECRET_KEY is not set" in result.stderr


def test_collectstatic_builds_the_hashed_compressed_files_production_serves(tmp_path, settings):
    from django.conf import settings as live
    from django.core.management import call_command
    from django.test import override_settings

    production = dict(live.STORAGES)
    production["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=production):
        call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())
    hashed = manifest["paths"]["portal/portal.css"]
    assert hashed != "portal/portal.css"
    assert (tmp_path / hashed).exists() and (tmp_path / (hashed + ".gz")).exists()


def test_no_link_token_reaches_the_log(client):
    """Django logs refused paths; the portal's configured log handler writes them without the token."""
    import io
    import logging

    from portal.logging import RedactLinkTokens

    console = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactLinkTokens) for f in h.filters)
    )
    token = "Zq3" * 14 + "x"
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        assert client.get(f"/m/{token}/").status_code == 404
    finally:
        console.setStream(previous)
    assert "Not Found: /m/Zq3Z…/" in stream.getvalue()
    assert token not in stream.getvalue()
