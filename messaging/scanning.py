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
    """clamd did not answer, or answered with an error (overloaded, restarted): the file is not checked,
    and may be later."""


class Unreachable(Unavailable):
    """clamd cannot be reached at all: nothing can be scanned until it is back."""


class TooLarge(Exception):
    """clamd will never scan this file: it is past its limits (StreamMaxLength, or, with AlertExceedsMax,
    MaxFileSize or MaxScanSize for an archive's member). A final verdict: never clean, never delivered."""

    def __init__(self, filename=""):
        super().__init__(f"{filename or 'the file'} is larger than the malware scanner accepts")
        self.filename = filename


# What becomes of mail already accepted with a file past clamd's limits (SCAN_TOO_LARGE).
QUARANTINE, REFUSE = "quarantine", "refuse"
TOO_LARGE_VERDICTS = (QUARANTINE, REFUSE)

# What clamd answers when a stream passes StreamMaxLength; what it finds, with AlertExceedsMax, in a file
# or an archive member it did not read whole.
_SIZE_LIMIT = "size limit exceeded"
_LIMITS_FOUND = "Heuristics.Limits.Exceeded"


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
        raise Unreachable(f"clamd cannot be reached: {type(error).__name__}") from error
    return sock


def scan_stream(stream):
    """The signature clamd found in the file-like `stream` (read from where it is, in chunks), or ''
    when it is clean. Raises Unavailable when clamd cannot say."""
    return scan_chunks(iter(lambda: stream.read(CHUNK), b""))


def scan_chunks(chunks):
    """The same for an iterable of byte chunks (an attachment as it is decrypted). Raises TooLarge when
    clamd will not scan the whole file, whatever else it says."""
    sock = _connect()
    try:
        try:
            sock.sendall(b"zINSTREAM\0")
            for chunk in chunks:
                for start in range(0, len(chunk), CHUNK):
                    part = chunk[start : start + CHUNK]
                    sock.sendall(struct.pack("!L", len(part)) + part)
            sock.sendall(struct.pack("!L", 0))
        except OSError as error:  # clamd stopped reading: its answer, if any, says why
            answer = _read_answer(sock, quietly=True)
            if _SIZE_LIMIT not in answer:
                raise Unavailable(f"clamd stopped reading: {type(error).__name__} {answer[:200]}") from error
        else:
            answer = _read_answer(sock)
    finally:
        sock.close()
    if _SIZE_LIMIT in answer:
        raise TooLarge()
    if answer == "stream: OK":
        return ""
    found = _FOUND.match(answer)
    if found and found.group(1).startswith(_LIMITS_FOUND):
        raise TooLarge()
    if found:
        return found.group(1)
    raise Unavailable(f"clamd answered: {answer[:200] or 'nothing'}")


def _read_answer(sock, quietly=False):
    """clamd's answer up to its NUL, as text; '' when it closed without one (quietly: or a socket error)."""
    answer = b""
    try:
        while not answer.endswith(b"\0"):
            part = sock.recv(4096)
            if not part:
                break
            answer += part
    except OSError as error:
        if not quietly:
            raise Unavailable(f"clamd stopped answering: {type(error).__name__}") from error
    return answer.rstrip(b"\0").decode("utf-8", "replace").strip()


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


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
LIMITS = ("StreamMaxLength", "MaxFileSize", "MaxScanSize")


def _bytes(value):
    number, unit = value[:-1] if value[-1:].upper() in _UNITS else value, value[-1:].upper()
    return int(number) * _UNITS.get(unit if not unit.isdigit() else "", 1)


def limits_below(most_bytes, path=None):
    """What in clamd's configuration file would keep a file of `most_bytes` from being scanned whole:
    ['StreamMaxLength 25M', 'AlertExceedsMax off', ...] ([] when nothing, or the file cannot be read)."""
    try:
        with open(path or settings.CLAMD_CONFIG_FILE) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    config = {}
    for line in lines:
        name, _space, value = line.strip().partition(" ")
        if name and not name.startswith("#"):
            config[name] = value.strip()
    # clamd's defaults where the file is silent (clamd.conf(5)); Debian's file sets 25M, 25M and 100M.
    defaults = {"StreamMaxLength": "100M", "MaxFileSize": "100M", "MaxScanSize": "400M"}
    short = []
    for name in LIMITS:
        value = config.get(name, defaults[name])
        try:
            limit = _bytes(value)
        except ValueError:
            continue
        if limit and limit < most_bytes:  # 0 means no limit
            short.append(f"{name} {value}")
    if config.get("AlertExceedsMax", "no").lower() not in ("yes", "true"):
        short.append(f"AlertExceedsMax {config.get('AlertExceedsMax', 'no')}")
    return short
