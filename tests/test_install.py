"""deploy/install, end to end, in a throwaway root: the three services started from their units' ExecStart
lines as the service user, nginx with the site it wrote, and a held message read over HTTPS through nginx.

What cannot run here: systemd as PID 1 (the units are verified by systemd-analyze in test_operations, and
started here from their ExecStart lines) and apt-get (the test machine has the packages: --no-packages).
"""

import http.client
import os
import re
import shlex
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import urllib.parse
from email.message import EmailMessage
from pathlib import Path

import pytest

from .helpers import free_port, wait_until_listening

ROOT = Path(__file__).resolve().parent.parent
HOST = "portal.test"
USER = "portaltest"


def operators_environment():
    """What an operator's root shell has: none of the settings the test suite sets for itself."""
    own = {"DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG", "DATABASE_URL", "SECRET_KEY", "PORTAL_KEKS"}
    return {k: v for k, v in os.environ.items() if k not in own and not k.startswith("DJANGO_")}


def env_of(path):
    """The env file's KEY="value" lines, as systemd reads them."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r'([A-Z_0-9]+)="(.*)"', line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def unit(path):
    text = path.read_text()
    command = re.search(r"^ExecStart=(.+)$", text, re.MULTILINE).group(1)
    directory = re.search(r"^WorkingDirectory=(.+)$", text, re.MULTILINE).group(1)
    extra = dict(re.findall(r"^Environment=([A-Z_]+)=(.+)$", text, re.MULTILINE))
    return command, directory, extra


class Browser:
    """HTTPS through nginx to 127.0.0.1, as portal.test (its name in TLS and in Host), trusting the
    installer's self-signed certificate; cookies kept, redirects followed."""

    def __init__(self, port, certificate):
        self.port, self.cookies = port, {}
        self.context = ssl.create_default_context(cafile=str(certificate))

    def open(self, path, fields=None):
        for _hop in range(10):
            connection = http.client.HTTPSConnection(HOST, self.port, context=self.context, timeout=30)
            connection.sock = self.context.wrap_socket(
                socket.create_connection(("127.0.0.1", self.port), 30), server_hostname=HOST
            )
            headers = {
                "Host": f"{HOST}:{self.port}",
                "Referer": f"https://{HOST}:{self.port}{path}",
                "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            }
            body = None
            if fields is not None:
                body = urllib.parse.urlencode(fields)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            connection.request("POST" if body is not None else "GET", path, body=body, headers=headers)
            answer = connection.getresponse()
            content = answer.read().decode()
            for header in answer.headers.get_all("Set-Cookie") or []:
                name, _eq, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            connection.close()
            if answer.status in (301, 302, 303):
                path, fields = urllib.parse.urlsplit(answer.getheader("Location")).path, None
                continue
            assert answer.status == 200, (answer.status, content[-2000:])
            return path, content
        raise AssertionError("too many redirects")

    def post_form(self, path, page, fields):
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.open(path, {"csrfmiddlewaretoken": token, **fields})


@pytest.fixture
def reachable_tmp_path():
    """A throwaway folder the service user can reach. Not under pytest's own: every pytest session that
    starts makes that one private again (0700), so another run on the machine would lock the user out."""
    folder = Path(tempfile.mkdtemp(prefix="portal-install-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.django_db(transaction=True)
def test_the_installer_leaves_a_portal_that_serves_a_held_message_over_https(
    separate_database, reachable_tmp_path, mailbox
):
    tmp_path = reachable_tmp_path
    root = tmp_path / "root"
    http_port, https_port, web_port, intake_port = free_port(), free_port(), free_port(), free_port()
    database = separate_database["DATABASE_URL"]
    if database.startswith("sqlite"):  # a file the service user may write: under /var/lib/portal
        database = f"sqlite:///{root}/var/lib/portal/portal.sqlite3"
    installed = subprocess.run(
        [str(ROOT / "deploy" / "install"), "--root", str(root), "--hostname", HOST, "--no-packages",
         "--database-url", database, "--user", USER,
         "--http-port", str(http_port), "--https-port", str(https_port)],
        capture_output=True, text=True, timeout=900, env=operators_environment(),
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout[-4000:] + installed.stderr[-4000:]
    assert "Done. Next:" in installed.stdout and "portal-manage createsuperuser" in installed.stdout
    # check --deploy ran as the service user with the settings written: warnings (a self-signed
    # certificate, no scanning) but no error.
    assert "System check identified" in installed.stdout + installed.stderr
    assert "ERRORS:" not in installed.stdout + installed.stderr
    etc = root / "etc" / "portal"
    assert oct((etc / "portal.env").stat().st_mode & 0o777) == "0o640"
    assert oct((etc / "dkim.pem").stat().st_mode & 0o777) == "0o640"  # the services' group reads it
    settings = env_of(etc / "portal.env")
    assert settings["SECRET_KEY"] != "GENERATED" and len(settings["SECRET_KEY"]) >= 50
    again = subprocess.run(
        [str(ROOT / "deploy" / "install"), "--root", str(root), "--hostname", HOST, "--no-packages",
         "--database-url", database, "--user", USER,
         "--http-port", str(http_port), "--https-port", str(https_port)],
        capture_output=True, text=True, timeout=900, env=operators_environment(),
    )  # fmt: skip
    assert again.returncode == 0 and env_of(etc / "portal.env")["SECRET_KEY"] == settings["SECRET_KEY"]

    # The relay of this test, and ports of its own for the services (the units' are 8000 and 2525).
    env_file = etc / "portal.env"
    text = env_file.read_text()
    text = re.sub(r"^EMAIL_HOST=.*$", 'EMAIL_HOST="127.0.0.1"', text, flags=re.MULTILINE)
    text = re.sub(r"^EMAIL_PORT=.*$", f'EMAIL_PORT="{mailbox.port}"', text, flags=re.MULTILINE)
    text = re.sub(r"^EMAIL_USE_TLS=.*$", 'EMAIL_USE_TLS="0"', text, flags=re.MULTILINE)
    env_file.write_text(text)
    site = root / "etc" / "nginx" / "sites-available" / "portal.conf"
    site.write_text(site.read_text().replace("127.0.0.1:8000", f"127.0.0.1:{web_port}"))
    environment = {**env_of(env_file), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    processes = []
    try:
        for name in ("portal-web", "portal-intake", "portal-worker"):
            command, directory, extra = unit(root / "etc" / "systemd" / "system" / f"{name}.service")
            command = (
                command.replace("127.0.0.1:8000", f"127.0.0.1:{web_port}")
                .replace("--port 2525", f"--port {intake_port}")
                .replace("--metrics-port 9102", f"--metrics-port {free_port()}")
            )
            if "PROMETHEUS_MULTIPROC_DIR" in extra:
                extra["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
                (tmp_path / "metrics").mkdir(exist_ok=True)
                os.chown(tmp_path / "metrics", *_ids(USER))
            log = (tmp_path / f"{name}.log").open("w")
            processes.append(
                subprocess.Popen(
                    ["runuser", "-u", USER, "--", *shlex.split(command)],
                    cwd=directory,
                    env={**environment, **extra},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            )
        nginx_conf = tmp_path / "nginx.conf"
        nginx_conf.write_text(
            f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log;\nevents {{}}\n"
            f"http {{\n  include /etc/nginx/mime.types;\n  client_body_temp_path {tmp_path}/body;\n"
            f"  include {root}/etc/nginx/sites-enabled/*.conf;\n}}\n"
        )
        site.write_text(site.read_text().replace("/var/log/nginx/", f"{tmp_path}/"))
        processes.append(subprocess.Popen(["/usr/sbin/nginx", "-c", str(nginx_conf), "-g", "daemon off;"]))
        for port in (web_port, intake_port, https_port):
            wait_until_listening(port, 60)

        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "staff@example.com", "client@outside.example", "Installed"
        mail.set_content("Read through nginx, over HTTPS.")
        with smtplib.SMTP("127.0.0.1", intake_port) as smtp:
            smtp.send_message(mail)
        emails = mailbox.wait_for(2, timeout=60)
        texts = [m.get_body(("plain",)).get_content() for m in emails]
        link = next(
            re.search(r"https://portal\.test(/m/[A-Za-z0-9_-]{43}/)", t).group(1) for t in texts if "/m/" in t
        )
        temporary = next(
            re.search(r"Temporary password: (\S+)", t).group(1) for t in texts if "Temporary" in t
        )
        browser = Browser(https_port, root / "etc" / "ssl" / "portal" / "fullchain.pem")
        where, page = browser.open(link)
        assert where == "/login/"
        where, page = browser.post_form("/login/", page, {"step": "verify", "password": temporary})
        new = "a password of my own, long enough"
        where, page = browser.post_form(
            where, page, {"step": "change", "new_password1": new, "new_password2": new}
        )
        assert "Read through nginx, over HTTPS." in page, page[-3000:]
        http_answer = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Host: {HOST}", f"http://127.0.0.1:{http_port}/"],
            capture_output=True, text=True,
        ).stdout  # fmt: skip
        assert http_answer == "301"  # http goes to https
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _ids(user):
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
