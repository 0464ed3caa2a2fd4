"""Small helpers the tests share: walking the login as a person does, in the test client."""

import contextlib

GENERIC_FAILURE = "Invalid username, password or permissions. Please check you are using the correct URL."


def log_in(client, email, password, url="/login/"):
    """Enter the address, then the password; return the final response (redirects followed)."""
    client.post(url, {"step": "identify", "email": email})
    return client.post("/login/", {"step": "verify", "password": password}, follow=True)


def last_attempt():
    from accounts.models import LoginAttempt

    return LoginAttempt.objects.order_by("-at", "-pk").first()


def signed_in_user(client):
    """Whom the test client's session belongs to, or None."""
    from accounts.models import User

    return User.objects.filter(pk=client.session.get("_auth_user_id")).first()


def free_port():
    """A loopback TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env, *args):
    """Run manage.py in a process of its own with this environment; its standard output."""
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def wait_until_listening(port, seconds=30):
    import socket
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on port {port}") from None
            time.sleep(0.1)


@contextlib.contextmanager
def gunicorn(env, *options, log=None):
    """A real gunicorn serving the portal on a free loopback port; yields its base URL."""
    import subprocess
    import sys
    from pathlib import Path

    port = free_port()
    command = [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "-b", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        [*command, *options],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log or subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def tiny_png():
    """A real 1x1 PNG (a green pixel), for inline images."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00\xff\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def account_events():
    """The audit trail less the logins and logouts: what was done to accounts and messages."""
    from portal.models import AuditEvent

    Event = AuditEvent.Event
    return AuditEvent.objects.exclude(
        event__in=[Event.LOGIN_SUCCEEDED, Event.LOGIN_FAILED, Event.SESSION_ENDED]
    )
