"""Malware scanning with ClamAV: every attachment is scanned by clamd before anyone can open it.

CLAMD_ADDRESS = unix:///run/clamav/clamd.ctl or tcp://host:3310 (unset: no scanning; `check --deploy`
warns). Files are streamed to clamd's INSTREAM command in chunks, never read whole into memory. The
scanner fails closed: an answer that is not a clean "OK" is never taken for clean. An upload that cannot
be checked is refused; held mail waits (messaging.holding keeps it unscanned, unnotified) and the worker
scans it once clamd answers again.
"""

import logging
import re
import socket
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger("portal.scanning")

CHUNK = 64 * 1024
_FOUND = re.compile(r"^stream: (.+) FOUND$")


class Unavailable(Exception):
    """clamd did not answer, or answered with an error (too large, overloaded): the file is not checked."""


@dataclass(frozen=True)
class Finding:
    """A file clamd found malware in: its name and what clamd called it."""

    filename: str
    signature: str

    def __str__(self):
        return f"{self.filename}: {self.signature}"


class Infected(Exception):
    """One or more files hold malware."""

    def __init__(self, findings):
        super().__init__("; ".join(map(str, findings)))
        self.findings = list(findings)


def enabled():
    return bool(settings.CLAMD_ADDRESS)


def address(url=None):
    """(family, address) of CLAMD_ADDRESS, or an error an operator understands."""
    url = url or settings.CLAMD_ADDRESS
    parts = urlsplit(url)
    if parts.scheme == "unix" and parts.path:
        return socket.AF_UNIX, parts.path
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme == "tcp" and parts.hostname and port:
        return socket.AF_INET6 if ":" in parts.hostname else socket.AF_INET, (parts.hostname, port)
    raise ImproperlyConfigured(f"CLAMD_ADDRESS must be unix:///path or tcp://host:port, not {url!r}.")


def _connect():
    family, where = address()
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(settings.CLAMD_TIMEOUT)
    try:
        sock.connect(where)
    except OSError as error:
        sock.close()
        raise Unavailable(f"clamd cannot be reached: {type(error).__name__}") from error
    return sock


def scan_stream(stream):
    """The signature clamd found in the file-like `stream` (read from where it is, in chunks), or ''
    when it is clean. Raises Unavailable when clamd cannot say."""
    return scan_chunks(iter(lambda: stream.read(CHUNK), b""))


def scan_chunks(chunks):
    """The same for an iterable of byte chunks (an attachment as it is decrypted)."""
    sock = _connect()
    try:
        sock.sendall(b"zINSTREAM\0")
        for chunk in chunks:
            for start in range(0, len(chunk), CHUNK):
                part = chunk[start : start + CHUNK]
                sock.sendall(struct.pack("!L", len(part)) + part)
        sock.sendall(struct.pack("!L", 0))
        answer = b""
        while not answer.endswith(b"\0"):
            part = sock.recv(4096)
            if not part:
                break
            answer += part
    except OSError as error:  # a timeout, or clamd closed the stream (its StreamMaxLength)
        raise Unavailable(f"clamd stopped answering: {type(error).__name__}") from error
    finally:
        sock.close()
    text = answer.rstrip(b"\0").decode("utf-8", "replace").strip()
    if text == "stream: OK":
        return ""
    found = _FOUND.match(text)
    if found:
        return found.group(1)
    raise Unavailable(f"clamd answered: {text[:200] or 'nothing'}")


def ping():
    """True when clamd answers PONG (for /readyz)."""
    try:
        sock = _connect()
    except Unavailable:
        return False
    try:
        sock.sendall(b"zPING\0")
        return sock.recv(16).rstrip(b"\0") == b"PONG"
    except OSError:
        return False
    finally:
        sock.close()


def check():
    """For /readyz: raises when clamd does not answer PONG."""
    if not ping():
        raise OSError("clamd does not answer")
