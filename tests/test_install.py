"""deploy/install, end to end, in a throwaway root: the three services started from their units' ExecStart
lines as the service user, nginx with the site it wrote, and a held message read over HTTPS through nginx.

What cannot run here: systemd as PID 1 (the units are verified by systemd-analyze in test_operations, and
started here from their ExecStart lines) and apt-get (the test machine has the packages: --no-packages).
"""

import grp
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
import time
import urllib.parse
from email.message import EmailMessage
from pathlib import Path

import pytest

from .helpers import free_port, wait_until_listening

ROOT = Path(__file__).resolve().parent.parent
HOST = "portal.test"
MAIL_DOMAIN = "mail.test"
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


def checkout_owned_by_someone_else(folder):
    """A copy of this checkout owned by another account, one file of it writable by everyone."""
    skip = shutil.ignore_patterns(
        ".git", ".venv", "staticfiles", "cache", "media", "__pycache__", "*.sqlite*"
    )
    shutil.copytree(ROOT, folder, ignore=skip)
    nobody = _ids("nobody")
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, *nobody)
    (folder / "portal" / "urls.py").chmod(0o666)
    return folder


def install(checkout, root, database, http_port, https_port, *more):
    return subprocess.run(
        [str(checkout / "deploy" / "install"), "--root", str(root), "--hostname", HOST, "--no-packages",
         "--mail-domain", MAIL_DOMAIN, "--database-url", database, "--user", USER,
         "--http-port", str(http_port), "--https-port", str(https_port), *more],
        capture_output=True, text=True, timeout=900, env=operators_environment(),
    )  # fmt: skip


def written_by_others(tree):
    """Files under `tree` that someone but root owns or may write."""
    found = []
    for folder, folders, files in os.walk(tree):
        for name in [*folders, *files]:
            path = Path(folder) / name
            info = path.lstat()
            if not path.is_symlink() and (info.st_uid != 0 or info.st_mode & 0o022):
                found.append(str(path))
    return found


@pytest.mark.django_db(transaction=True)
def test_the_installer_leaves_a_portal_that_serves_a_held_message_over_https(
    separate_database, reachable_tmp_path, mailbox, clamd_server
):
    tmp_path = reachable_tmp_path
    root = tmp_path / "root"
    http_port, https_port, intake_port = free_port(), free_port(), free_port()
    database = separate_database["DATABASE_URL"]
    if database.startswith("sqlite"):  # a file the service user may write: under /var/lib/portal
        database = f"sqlite:///{root}/var/lib/portal/portal.sqlite3"
    checkout = checkout_owned_by_someone_else(tmp_path / "checkout")
    installed = install(checkout, root, database, http_port, https_port)
    assert installed.returncode == 0, installed.stdout[-4000:] + installed.stderr[-4000:]
    assert "Done. Next:" in installed.stdout and "portal-manage createsuperuser" in installed.stdout
    # check --deploy ran as the service user with the settings written: warnings (a self-signed
    # certificate, no scanning) but no error.
    assert "System check identified" in installed.stdout + installed.stderr
    assert "ERRORS:" not in installed.stdout + installed.stderr
    assert "portal.W009" in installed.stdout + installed.stderr  # nginx's certificate is self-signed
    # The code the service runs is root's, whoever owned the checkout (its user could change it).
    assert written_by_others(root / "opt" / "portal") == []
    etc = root / "etc" / "portal"
    assert oct((etc / "portal.env").stat().st_mode & 0o777) == "0o640"
    assert oct((etc / "dkim.pem").stat().st_mode & 0o777) == "0o640"  # the services' group reads it
    settings = env_of(etc / "portal.env")
    assert settings["SECRET_KEY"] != "GENERATED" and len(settings["SECRET_KEY"]) >= 50
    # Mail from the domain asked for, signed for it (DMARC aligns the two); the records to publish.
    assert settings["DEFAULT_FROM_EMAIL"] == f"Secure portal <portal@{MAIL_DOMAIN}>"
    assert settings["DKIM_DOMAIN"] == MAIL_DOMAIN
    records = (etc / "dkim-record.txt").read_text()
    assert f"portal._domainkey.{MAIL_DOMAIN}" in records and "v=spf1" in records and "v=DMARC1" in records
    assert settings["INTAKE_AUTH_PASSWORD"] not in ("", "GENERATED")

    # Run again, now with scanning: the settings are kept, scanning is turned on, clamd gets limits that
    # fit MAX_UPLOAD_MB, and a file the new release no longer has is gone.
    (root / "etc" / "clamav").mkdir(parents=True)
    shutil.copy("/etc/clamav/clamd.conf", root / "etc" / "clamav" / "clamd.conf")  # Debian's own
    (root / "opt" / "portal" / "left_over_from_an_old_release.py").write_text("")
    again = install(checkout, root, database, http_port, https_port, "--with-clamav")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    kept = env_of(etc / "portal.env")
    assert kept["SECRET_KEY"] == settings["SECRET_KEY"] and kept["CLAMD_ADDRESS"]
    clamd_conf = (root / "etc" / "clamav" / "clamd.conf").read_text()
    for line in ("StreamMaxLength 2100M", "MaxFileSize 2100M", "MaxScanSize 4096M", "AlertExceedsMax yes"):
        assert re.search(rf"^{line}$", clamd_conf, re.MULTILINE), line
    assert not (root / "opt" / "portal" / "left_over_from_an_old_release.py").exists()

    # The relay of this test, clamd of this test, and places of its own for the services.
    env_file = etc / "portal.env"
    text = env_file.read_text()
    text = re.sub(r"^EMAIL_HOST=.*$", 'EMAIL_HOST="127.0.0.1"', text, flags=re.MULTILINE)
    text = re.sub(r"^EMAIL_PORT=.*$", f'EMAIL_PORT="{mailbox.port}"', text, flags=re.MULTILINE)
    text = re.sub(r"^EMAIL_USE_TLS=.*$", 'EMAIL_USE_TLS="0"', text, flags=re.MULTILINE)
    text = re.sub(r"^CLAMD_ADDRESS=.*$", f'CLAMD_ADDRESS="{clamd_server[1]}"', text, flags=re.MULTILINE)
    env_file.write_text(text)
    # gunicorn's socket, in a folder of nginx's group (what the unit's ExecStartPre lines do).
    sockets = tmp_path / "run" / "portal-web"
    sockets.mkdir(parents=True)
    os.chown(sockets, _ids(USER)[0], grp.getgrnam("www-data").gr_gid)
    sockets.chmod(0o750)
    socket_path = f"unix:{sockets}/gunicorn.sock"
    site = root / "etc" / "nginx" / "sites-available" / "portal.conf"
    site.write_text(site.read_text().replace("unix:/run/portal-web/gunicorn.sock", socket_path))
    environment = {**env_of(env_file), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    processes = []
    try:
        for name in ("portal-web", "portal-intake", "portal-worker"):
            command, directory, extra = unit(root / "etc" / "systemd" / "system" / f"{name}.service")
            command = (
                command.replace("unix:/run/portal-web/gunicorn.sock", socket_path)
                .replace("--port 2525", f"--port {intake_port}")
                .replace("--metrics-port 9102", f"--metrics-port {free_port()}")
                .replace("--metrics-port 9103", f"--metrics-port {free_port()}")
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
            f"user www-data;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log;\nevents {{}}\n"
            f"http {{\n  include /etc/nginx/mime.types;\n  client_body_temp_path {tmp_path}/body;\n"
            f"  include {root}/etc/nginx/sites-enabled/*.conf;\n}}\n"
        )
        site.write_text(site.read_text().replace("/var/log/nginx/", f"{tmp_path}/"))
        processes.append(subprocess.Popen(["/usr/sbin/nginx", "-c", str(nginx_conf), "-g", "daemon off;"]))
        for port in (intake_port, https_port):
            wait_until_listening(port, 60)
        wait_for_socket(sockets / "gunicorn.sock")
        # Only the service and nginx reach gunicorn's socket: no other local account talks to it directly.
        denied = subprocess.run(
            ["runuser", "-u", "nobody", "--", "curl", "-s", "--unix-socket", str(sockets / "gunicorn.sock"),
             "-H", "X-Forwarded-For: 192.0.2.1", "http://portal.test/healthz"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert denied.returncode == 7 and "ok" not in denied.stdout  # curl: could not connect

        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "staff@example.com", "client@outside.example", "Installed"
        mail.set_content("Read through nginx, over HTTPS.")
        # Any local account could submit mail as staff: now the intake wants its credentials, over TLS.
        with smtplib.SMTP("127.0.0.1", intake_port) as smtp, pytest.raises(smtplib.SMTPSenderRefused):
            smtp.send_message(mail)
        trusting = ssl.create_default_context(cafile=str(root / "etc" / "ssl" / "portal" / "fullchain.pem"))
        trusting.check_hostname = False
        with smtplib.SMTP("127.0.0.1", intake_port) as smtp:
            smtp.starttls(context=trusting)
            smtp.login(kept["INTAKE_AUTH_USER"], kept["INTAKE_AUTH_PASSWORD"])
            smtp.send_message(mail)
        emails = mailbox.wait_for(2, timeout=60)
        texts = [m.get_body(("plain",)).get_content() for m in emails]
        link = next(
            re.search(r"https://portal\.test(/m/[A-Za-z0-9_-]{43}/)", t).group(1) for t in texts if "/m/" in t
        )
        temporary = next(
            re.search(r"Temporary password: (\S+)", t).group(1) for t in texts if "Temporary" in t
        )
        assert all(m["From"] == f"Secure portal <portal@{MAIL_DOMAIN}>" for m in emails)
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
        # The readiness probe, from this host through nginx, as install.md says.
        ready = curl_https(https_port, "/readyz")
        assert ready.endswith("200") and '"status": "ready"' in ready, ready
        # What nginx logs keeps no secret of a URL: a SAML request's query, a message link's token.
        curl_https(https_port, "/saml/sls/?SAMLRequest=SECRET-SAML-REQUEST&RelayState=x")
        body = tmp_path / "three-megabytes"
        body.write_bytes(b"x" * 3_000_000)
        big = curl_https(https_port, "/login/", "--data-binary", f"@{body}")
        assert big.endswith("413")  # a page takes no upload-sized body (only where files are sent)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    logged = (tmp_path / "portal.access.log").read_text() + (tmp_path / "portal.error.log").read_text()
    assert "SECRET-SAML-REQUEST" not in logged and "/saml/sls/?..." in logged
    assert link[3:-1] not in logged and link[:7] in logged


def curl_https(port, path, *options):
    """curl through nginx as portal.test from this host: the body, then the status."""
    return subprocess.run(
        ["curl", "-sk", "--resolve", f"{HOST}:{port}:127.0.0.1", "-w", "%{http_code}", *options,
         f"https://{HOST}:{port}{path}"],
        capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip


def wait_for_socket(path, seconds=60):
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"gunicorn made no socket at {path}")
        time.sleep(0.1)


def _ids(user):
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
