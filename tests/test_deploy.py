"""What an operator installs: the example env passes check --deploy through portal-manage, with values
that have spaces; the nginx site passes Debian's own `nginx -t`."""

import os
import re
import subprocess
import sys
from pathlib import Path

from .certificates import self_signed

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "portal.env.example"
MANAGE = ROOT / "deploy" / "portal-manage"


def materialised(tmp_path):
    """The example, filled in as deploy/install fills it, with /var/lib/portal and /etc/portal moved into
    a temporary folder and SQLite for the database."""
    var, etc = tmp_path / "var" / "lib" / "portal", tmp_path / "etc" / "portal"
    var.mkdir(parents=True)
    etc.mkdir(parents=True)
    (etc / "keks").write_text(
        subprocess.run(
            [sys.executable, "manage.py", "generate_kek", "--id", "k1"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "DEBUG": "1"},
        ).stdout  # fmt: skip
    )
    subprocess.run(
        [sys.executable, "manage.py", "dkim_key", "--out", str(etc / "dkim.pem"), "--domain", "example.com"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    text = EXAMPLE.read_text()
    text = text.replace('SECRET_KEY="GENERATED"', 'SECRET_KEY="' + "s3cr3t-Kq9" * 6 + '"')
    text = text.replace("/var/lib/portal", str(var)).replace("/etc/portal", str(etc))
    text = text.replace("/opt/portal/staticfiles", str(var / "static"))
    text = re.sub(r'DATABASE_URL="[^"]*"', f'DATABASE_URL="sqlite:///{var}/portal.sqlite3"', text)
    path = etc / "portal.env"
    path.write_text(text)
    return path, var


def portal_manage(env_file, *args):
    environment = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environment.update(
        PORTAL_ROOT=str(ROOT), PORTAL_ENV_FILE=str(env_file), PORTAL_USER=os.environ.get("USER", "root")
    )
    environment["PORTAL_USER"] = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    return subprocess.run([str(MANAGE), *args], capture_output=True, text=True, env=environment, timeout=120)


def test_the_example_env_passes_check_deploy_through_portal_manage(tmp_path):
    env_file, var = materialised(tmp_path)
    done = portal_manage(env_file, "migrate", "--no-input", "-v0")
    assert done.returncode == 0, done.stdout + done.stderr
    checked = portal_manage(env_file, "check", "--deploy")
    assert checked.returncode == 0 and "ERRORS" not in checked.stderr, checked.stdout + checked.stderr
    assert "a test object was written, read and deleted" in checked.stdout + checked.stderr
    # What the services write is under /var/lib/portal (here: its stand-in), nowhere else.
    assert (var / "cache").exists() or (var / "media").exists()


def test_portal_manage_reads_values_with_spaces_as_the_services_do(tmp_path):
    env_file, _var = materialised(tmp_path)
    printed = portal_manage(
        env_file,
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; print(settings.SUPPORT_CONTACT)",
    )
    assert printed.stdout.strip() == "IT service desk, help@example.com, +44 20 7946 0000", printed.stderr


def test_the_nginx_site_passes_debians_nginx_t(tmp_path):
    cert, key = self_signed(tmp_path, "portal")
    site = (ROOT / "deploy" / "nginx" / "portal.conf").read_text()
    site = site.replace("/etc/ssl/portal/fullchain.pem", str(cert)).replace(
        "/etc/ssl/portal/privkey.pem", str(key)
    )
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "portal.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log {tmp_path}/access.log;\n  include /etc/nginx/mime.types;\n"
        f"  include {tmp_path}/portal.conf;\n}}\n"
    )
    result = subprocess.run(
        ["/usr/sbin/nginx", "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_the_networks_nginx_lets_reach_metrics_are_the_ones_the_portal_allows():
    site = (ROOT / "deploy" / "nginx" / "portal.conf").read_text()
    scrapers = re.search(r"geo \$portal_scraper_network \{(.*?)\}", site, re.S).group(1)
    allowed_by_nginx = set(re.findall(r"^\s*([0-9a-f.:]+/\d+) 1;", scrapers, re.MULTILINE))
    example = EXAMPLE.read_text()
    portal = set(re.search(r'METRICS_ALLOWED_NETWORKS="([^"]*)"', example).group(1).split(","))
    assert allowed_by_nginx and allowed_by_nginx <= portal


def test_djangos_own_4xx_log_lines_carry_the_answers_request_id(client, caplog, db):
    import logging

    with caplog.at_level(logging.WARNING, logger="django.request"):
        answer = client.get("/no/such/page/")
    record = next(r for r in caplog.records if r.name == "django.request")
    assert answer.status_code == 404
    from portal.logging import AddRequestId

    AddRequestId().filter(record)
    assert record.request_id == answer["X-Request-ID"] != "-"


def test_a_failing_readyz_says_why_in_the_log(client, settings, caplog, tmp_path, db):
    import logging

    from django.core.files.storage import storages

    from portal import health

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the attachments' folder should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocked / "m")},
        },
    }
    storages._storages.pop("default", None)
    health._storage_probed.update(at=0.0)
    try:
        with caplog.at_level(logging.WARNING, logger="portal.health"):
            assert client.get("/readyz").status_code == 503
    finally:
        storages._storages.pop("default", None)
        health._storage_probed.update(at=0.0, problem=None)
    assert "event=not_ready part=storage" in caplog.text and "cause=" in caplog.text


def deploy_findings(**overrides):
    from django.core import checks
    from django.test import override_settings

    with override_settings(**overrides):
        return {c.id: c.msg for c in checks.run_checks(include_deployment_checks=True, tags=["security"])}


def test_check_deploy_says_what_breaks_mail_on_the_first_day(tmp_path, settings):
    """The installer once wrote From: portal.example.test (no @): a strict relay refused every email."""
    key = tmp_path / "dkim.pem"
    key.write_text("not read here")
    dkim = {"DKIM_DOMAIN": "corp.example", "DKIM_SELECTOR": "portal", "DKIM_PRIVATE_KEY_FILE": str(key)}
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    found = deploy_findings(DEFAULT_FROM_EMAIL="portal.example.test", EMAIL_BACKEND=smtp, **dkim)
    assert "has no address with an @" in found["portal.E009"]
    found = deploy_findings(
        DEFAULT_FROM_EMAIL="Secure portal <portal@mail.example>", EMAIL_HOST="smtp.example.com",
        EMAIL_BACKEND=smtp, **dkim,
    )  # fmt: skip
    assert "portal.E009" not in found and "smtp.example.com" in found["portal.W005"]
    assert "DKIM signs for corp.example but the emails come from mail.example" in found["portal.W006"]
    found = deploy_findings(
        DEFAULT_FROM_EMAIL="Secure portal <portal@corp.example>", EMAIL_HOST="relay.corp.example",
        EMAIL_BACKEND=smtp, **dkim,
    )  # fmt: skip
    assert not {"portal.E009", "portal.W005", "portal.W006"} & set(found)


def test_check_deploy_warns_of_a_shared_redis_without_a_password():
    assert "without a password" in deploy_findings(CACHE_URL="redis://10.0.0.5:6379/0")["portal.W007"]
    assert "portal.W007" not in deploy_findings(CACHE_URL="redis://:s3cret@10.0.0.5:6379/0")
    assert "portal.W007" not in deploy_findings(CACHE_URL="redis://127.0.0.1:6379/0")


def test_check_deploy_warns_of_a_self_signed_certificate_in_the_nginx_site(tmp_path):
    cert, _key = self_signed(tmp_path, "portal")
    site = tmp_path / "portal.conf"
    site.write_text(f"server {{\n    ssl_certificate     {cert};\n}}\n")
    assert "self-signed" in deploy_findings(NGINX_SITE_FILE=str(site))["portal.W009"]
    assert "portal.W009" not in deploy_findings(NGINX_SITE_FILE=str(tmp_path / "absent.conf"))
