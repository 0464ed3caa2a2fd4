"""Running it: /metrics counts what happened and is not public, /readyz says which part is away, logs
as JSON lines with a request id, and the deployment files pass their own tools."""

import io
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client

from messaging.notify import deliver_due

from .helpers import log_in

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent


def scrape(client=None, **headers):
    return (client or Client()).get("/metrics", **headers)


def sample(text, name, **labels):
    """The value of one sample of the exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if wanted else ''} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_a_login_a_failure_a_held_message_and_a_notification(make_user, hold_message, mailbox):
    make_user("staff@example.com")
    log_in(Client(), "staff@example.com", "correct horse battery")
    log_in(Client(), "staff@example.com", "a wrong guess")
    hold_message(["client@outside.example"])
    before = scrape().content.decode()
    assert sample(before, "portal_notifications_oldest_unsent_seconds") > 0
    deliver_due()
    mailbox.wait_for(2)
    text = scrape().content.decode()
    assert sample(text, "portal_logins_total", method="cloud", outcome="success") == 1
    assert sample(text, "portal_logins_total", method="cloud", outcome="failure") == 1
    assert sample(text, "portal_login_failures_total", reason="bad_password") == 1
    assert sample(text, "portal_messages_held_total", source="compose") == 1
    assert sample(text, "portal_notifications_total", state="sent") == 2
    assert sample(text, "portal_notifications_oldest_unsent_seconds") == 0
    assert sample(text, "portal_ready") == 1
    assert 'portal_http_requests_total{status="200",view="accounts:login"}' in text
    assert "portal_http_request_duration_seconds_bucket" in text


def test_metrics_are_refused_outside_the_allowed_networks(settings):
    outsider = Client(REMOTE_ADDR="203.0.113.7")
    assert scrape(outsider).status_code == 403
    settings.METRICS_TOKEN = "a-long-random-scrape-token"
    assert scrape(outsider, HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 403
    assert scrape(outsider, HTTP_AUTHORIZATION="Bearer a-long-random-scrape-token").status_code == 200
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert scrape(outsider).status_code == 200
    # Behind a proxy that is not trusted, a forged X-Forwarded-For does not make anyone local.
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert scrape(Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="127.0.0.1")).status_code == 403
    # A proxy on this host that the portal was not told to trust: its loopback address is not the client's.
    settings.METRICS_TOKEN = ""
    assert scrape(Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")).status_code == 403
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert scrape(Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")).status_code == 403
    assert scrape(Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1")).status_code == 200


def test_the_intake_counts_its_answers_on_its_own_port(intake):
    import smtplib
    from email.message import EmailMessage

    from prometheus_client import generate_latest

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = (
        "sender@example.com",
        "client@outside.example",
        "Figures",
    )
    message.set_content("See attached.")
    with smtplib.SMTP("127.0.0.1", intake, timeout=30) as smtp:
        smtp.send_message(message)
    text = generate_latest().decode()
    assert sample(text, "portal_intake_answers_total", code="250") >= 1
    assert sample(text, "portal_intake_message_bytes_count") >= 1


def test_readyz_is_ready_and_turns_503_with_the_storage_away(settings, tmp_path):
    from portal import health

    health._storage_probed.update(at=0.0)  # the probe's answer is kept a few seconds: ask afresh
    assert Client().get("/readyz").json() == {
        "status": "ready",
        "checks": {"database": "ok", "storage": "ok", "cache": "ok", "keys": "ok"},
    }
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the attachments' folder should be")
    away = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(blocked / "m")},
    }
    settings.STORAGES = {**settings.STORAGES, "default": away}
    from django.core.files.storage import storages

    storages._storages.pop("default", None)
    health._storage_probed.update(at=0.0)
    try:
        response = Client().get("/readyz")
        assert response.status_code == 503
        assert response.json()["failed"] == ["storage"]
        assert str(tmp_path) not in response.content.decode()  # no detail that helps an outsider
    finally:
        storages._storages.pop("default", None)
        health._storage_probed.update(at=0.0, problem=None)


def test_healthz_stays_the_liveness_answer():
    assert Client().get("/healthz").json() == {"status": "ok", "database": "up"}


def test_json_logs_carry_the_request_id(make_user, settings):
    from portal.logging import AddRequestId, JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(AddRequestId())
    logger = logging.getLogger("portal.login")
    logger.addHandler(handler)
    try:
        make_user("staff@example.com")
        client = Client()
        client.post("/login/", {"step": "identify", "email": "staff@example.com"})
        response = client.post("/login/", {"step": "verify", "password": "a wrong guess"})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "login_failed" and line["reason"] == "bad_password" and line["level"] == "info"
    assert line["request_id"] == response["X-Request-ID"] and len(line["request_id"]) == 32
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}", line["reference"])
    assert "a wrong guess" not in stream.getvalue()


def test_a_request_id_is_kept_only_from_a_trusted_proxy(settings):
    assert Client(HTTP_X_REQUEST_ID="abc-123").get("/healthz")["X-Request-ID"] != "abc-123"
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert Client(HTTP_X_REQUEST_ID="abc-123").get("/healthz")["X-Request-ID"] == "abc-123"
    assert Client(HTTP_X_REQUEST_ID="<script>").get("/healthz")["X-Request-ID"] != "<script>"


def test_the_systemd_units_verify(tmp_path):
    """`systemd-analyze verify` on the units, pointed at this checkout instead of /opt/portal."""
    for unit in (ROOT / "deploy" / "systemd").iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/portal", str(ROOT)))
    units = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    names = {Path(u).name for u in units}
    assert names >= {
        "portal-web.service",
        "portal-intake.service",
        "portal-worker.service",
        "portal-purge.timer",
    }
    broken = tmp_path / "portal-web.service"
    broken.write_text(broken.read_text().replace("ExecStart=" + str(ROOT), "ExecStart=relative"))
    assert subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True).returncode != 0


def test_the_alert_rules_pass_promtool():
    promtool = shutil.which("promtool")
    assert promtool, "make test installs Debian's prometheus package, which brings promtool"
    result = subprocess.run(
        [promtool, "check", "rules", str(ROOT / "deploy" / "prometheus" / "alerts.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout


def test_every_setting_is_documented_once_and_the_readme_stays_short():
    settings_source = (ROOT / "portal" / "settings.py").read_text()
    names = set(re.findall(r'env(?:_bool|_int|_list)?\("([A-Z0-9_]+)"', settings_source))
    names |= {"PROMETHEUS_MULTIPROC_DIR"}
    guide = (ROOT / "docs" / "configuration.md").read_text()
    table_rows = [line for line in guide.splitlines() if line.startswith("| `")]
    documented = {name: sum(f"`{name}`" in row.split("|")[1] for row in table_rows) for name in names}
    assert {name: count for name, count in documented.items() if count != 1} == {}
    assert len((ROOT / "README.md").read_text().splitlines()) < 150
    pages = ["install", "configuration", "proxy", "nodes", "mail", "sign-in", "upgrades", "keys", "backups"]
    for page in [*pages, "monitoring", "runbook"]:
        assert (ROOT / "docs" / f"{page}.md").exists(), page


def test_the_error_page_shows_the_request_id_the_log_holds(rf):
    from portal.views import server_error

    request = rf.get("/")
    request.id = "4f2c0d9e1b7a4c3e8d6f5a2b1c0e9d8f"
    page = server_error(request).content.decode()
    assert "Something went wrong" in page and request.id in page


BROWSER_MEMORY = """
from pathlib import Path

def resident_mib():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024

import django
django.setup()
from accounts.troubleshooting import describe_browser
before = resident_mib()
for agent in [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Python-urllib/3.11",
]:
    describe_browser(agent)
print(describe_browser("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"))
print(resident_mib() - before)
"""


def test_naming_browsers_keeps_little_memory_in_each_web_worker():
    """ua-parser's default engine kept 26 MiB in every worker from its first login page on."""
    import os
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    named, grown = subprocess.run([sys.executable, "-c", BROWSER_MEMORY], check=True, capture_output=True,
                                  text=True, env=env).stdout.splitlines()  # fmt: skip
    assert named == "Firefox 128 on Windows 10"
    assert float(grown) < 5
