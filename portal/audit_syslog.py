"""The audit trail to the organisation's SIEM: RFC 5424 syslog over TCP or UDP, sent from the table.

AUDIT_SYSLOG=tcp://host:port or udp://host:port. Each event written while it is set is marked pending
in its own transaction; the worker sends the pending ones, oldest first, each as one syslog message
whose MSG is the event's JSON (as `manage.py audit_export` writes it, with its `id`), and marks them
sent only once they are out. A SIEM that is down, restarted or gone gets everything written meanwhile
when it is back (at least once: a SIEM drops repeats by `id`). Over TCP a connection the SIEM closed is
noticed before and after each batch, never written into; UDP says nothing of delivery (use TCP).
What waits is in /metrics of every process (`portal_audit_syslog_backlog`, read from the database) with
an alert; each failed round is counted (`portal_audit_syslog_failures_total`) and logged.
"""

import json
import logging
import os
import select
import socket
import time
from datetime import UTC
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import Counter

from .models import AuditEvent

log = logging.getLogger("portal.audit")

FAILURES = Counter(
    "portal_audit_syslog_failures",
    "Rounds in which audit events could not be sent to AUDIT_SYSLOG",
    ["cause"],
)
SENT = Counter("portal_audit_syslog_sent", "Audit events sent to AUDIT_SYSLOG")

AUTHPRIV, INFO, NOTICE = 10, 6, 5
APP_NAME = "secure-portal"
CONNECT_SECONDS = 5
BATCH = 500
SHIPPING_LOCK = "portal:audit-syslog:shipping"  # one sender at a time per cache (repeats are allowed)
LOCK_SECONDS = 60
SETTLE_SECONDS = 0.05  # after a batch: time for a SIEM that is closing the connection to say so


def parse(url):
    """(scheme, host, port) of AUDIT_SYSLOG, or an error an operator understands."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in {"udp", "tcp"} or not parts.hostname or not port:
        raise ImproperlyConfigured(f"AUDIT_SYSLOG must be udp://host:port or tcp://host:port, not {url!r}.")
    return parts.scheme, parts.hostname, port


def enabled():
    return bool(settings.AUDIT_SYSLOG)


def frame(event):
    """One RFC 5424 message: <PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG (the event's JSON)."""
    severity = NOTICE if event.event == "login.failed" else INFO
    timestamp = event.at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    host = (socket.gethostname() or "-")[:255]
    body = json.dumps(event.as_json(), ensure_ascii=False, separators=(",", ":"))
    header = f"<{AUTHPRIV * 8 + severity}>1 {timestamp} {host} {APP_NAME} {os.getpid()} {event.event[:32]} -"
    return f"{header} {body}".encode()


class Connection:
    """The worker's connection to the SIEM, opened again whenever the SIEM has closed it."""

    def __init__(self, url):
        self.url = url
        self.scheme, self.host, self.port = parse(url)
        self.sock = None

    def send(self, payloads):
        if self.scheme == "udp":
            self._send_udp(payloads)
            return
        if self.sock is not None and not self._open():
            self.close()
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=CONNECT_SECONDS)
        # RFC 6587 octet counting: the length, a space, the message.
        self.sock.sendall(b"".join(str(len(p)).encode() + b" " + p for p in payloads))
        time.sleep(SETTLE_SECONDS)
        if not self._open():
            self.close()
            raise ConnectionResetError("the SIEM closed the connection while the events were sent")

    def _send_udp(self, payloads):
        family, kind, _proto, _name, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_DGRAM
        )[0]
        with socket.socket(family, kind) as sock:
            for payload in payloads:
                sock.sendto(payload, address)

    def _open(self):
        """False when the SIEM closed its side (it never writes to us: anything readable means closed)."""
        try:
            readable, _w, _x = select.select([self.sock], [], [], 0)
            return not readable or self.sock.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            return False

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


_connections = {}


def ship(batch=BATCH):
    """The worker's step: send the pending events to AUDIT_SYSLOG, oldest first, and mark them sent;
    how many went. On a failure nothing is marked: the next round sends them again."""
    if not enabled() or not cache.add(SHIPPING_LOCK, os.getpid(), LOCK_SECONDS):
        return 0
    try:
        return _ship(batch)
    finally:
        cache.delete(SHIPPING_LOCK)


def _ship(batch):
    url = settings.AUDIT_SYSLOG
    connection = _connections.get(url) or _connections.setdefault(url, Connection(url))
    total = 0
    while True:
        events = list(AuditEvent.objects.filter(syslog_pending=True).order_by("pk")[:batch])
        if not events:
            return total
        try:
            connection.send([frame(event) for event in events])
        except OSError as error:
            connection.close()
            FAILURES.labels("unreachable").inc()
            log.warning(
                "event=audit_syslog_failed target=%s waiting_from=%s error=%s",
                url, events[0].pk, type(error).__name__,
            )  # fmt: skip
            return total
        AuditEvent.objects.filter(pk__in=[event.pk for event in events]).update(syslog_pending=False)
        SENT.inc(len(events))
        total += len(events)
        if len(events) < batch:
            return total
