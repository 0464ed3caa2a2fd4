"""Benchmark of the REST API (issue 25): the server's CPU per 10 KB message sent through the API, against
the SMTP intake's CPU for the same message, held in full either way, measured in the same run.

Run with `make bench` (or `python bench/api.py`); writes its section of bench/RESULTS.md.
"""

import base64
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake_uploads import environment, gunicorn_pids  # noqa: E402
from bench.results import sized, write_section  # noqa: E402
from bench.run import PY, free_port, listening, manage  # noqa: E402

COUNT = sized(200, 3)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User and system CPU the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def main():
    attachment = os.urandom(10 * 1024)
    with tempfile.TemporaryDirectory() as folder:
        env = environment(Path(folder))
        manage(env, "migrate", "--no-input", "-v0")
        manage(env, "collectstatic", "--no-input", "-v0")
        manage({**env, "DJANGO_SUPERUSER_PASSWORD": "bench password 42"}, "createsuperuser", "--no-input",
               "--email", "sender@example.com")  # fmt: skip
        key = manage(env, "api_key", "create", "--name", "bench", "--account", "sender@example.com",
                     "--scopes", "messages:send").strip()  # fmt: skip
        web_port, intake_port = free_port(), free_port()
        quiet = {"cwd": ROOT, "env": {**env, "API_RATE": "1000000"}, "stdout": subprocess.DEVNULL,
                 "stderr": subprocess.DEVNULL}  # fmt: skip
        web = subprocess.Popen([str(Path(PY).parent / "gunicorn"), "portal.wsgi", "-b", f"127.0.0.1:{web_port}",
                                "--workers", "1"], **quiet)  # fmt: skip
        intake = subprocess.Popen([PY, "manage.py", "smtp_intake", "--port", str(intake_port)], **quiet)
        try:
            listening(web_port, intake_port)
            body = json.dumps({
                "to": ["r@outside.example"], "subject": "Bench", "text": "Body\n",
                "attachments": [{"filename": "a.bin", "content_type": "application/octet-stream",
                                 "content_base64": base64.b64encode(attachment).decode()}],
            }).encode()  # fmt: skip

            def api_send():
                request = urllib.request.Request(
                    f"http://127.0.0.1:{web_port}/api/v1/messages/", data=body,
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                )  # fmt: skip
                with urllib.request.urlopen(request, timeout=30) as answer:
                    assert answer.status == 201

            api_send()  # warm up
            pids = [p for p in gunicorn_pids(web_port)]
            before = cpu_seconds(pids)
            for _ in range(COUNT):
                api_send()
            api_cpu = (cpu_seconds(pids) - before) / COUNT

            mail = EmailMessage()
            mail["From"], mail["To"], mail["Subject"] = "sender@example.com", "r@outside.example", "Bench"
            mail.set_content("Body\n")
            mail.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="a.bin")
            with smtplib.SMTP("127.0.0.1", intake_port) as smtp:
                smtp.send_message(mail)  # warm up
            before = cpu_seconds([intake.pid])
            with smtplib.SMTP("127.0.0.1", intake_port) as smtp:  # held at the QUIT, in the intake's process
                for _ in range(COUNT):
                    smtp.send_message(mail)
            intake_cpu = (cpu_seconds([intake.pid]) - before) / COUNT
        finally:
            web.terminate()
            intake.terminate()
            web.wait()
            intake.wait()
    ratio = api_cpu / intake_cpu
    lines = [
        f"Measured by `python bench/api.py` on {time.strftime('%Y-%m-%d')}, on this project's machine "
        f"({os.cpu_count()} cores), SQLite; {COUNT} messages each way, one after another.",
        "",
        "| benchmark | measured | baseline (same run) | ratio | goal |",
        "|---|---|---|---|---|",
        f"| server CPU per 10 KB message sent through the API (JSON, base64 attachment; gunicorn worker) | "
        f"{api_cpu * 1000:.1f} ms | the SMTP intake's CPU for the same message, held in full: "
        f"{intake_cpu * 1000:.1f} ms | {ratio:.2f} | ≤ 1.5: {'met' if ratio <= 1.5 else 'not met'} |",
        "",
        "Both hold the message in full (parsed, encrypted, stored, its notification queued, its audit event "
        "written). The API also authenticates the key, checks the rate in the cache, validates the JSON, "
        "decodes the base64 and writes its own `api.used` audit event; the intake also spools the raw message "
        "before holding it.",
    ]
    write_section("The REST API against the intake", lines, ROOT / "bench" / "RESULTS.md")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
