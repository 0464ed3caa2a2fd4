"""The audit trail as it happens, to the organisation's SIEM: RFC 5424 syslog over UDP or TCP.

AUDIT_SYSLOG=udp://host:port or tcp://host:port. Each committed event is one syslog message whose MSG
is the event's JSON, as `manage.py audit_export` writes it. A background thread of each process sends
them from a bounded queue, so a syslog that is slow or gone never blocks or fails a request: what
cannot be sent is counted (`portal_audit_syslog_failures_total`) and the trail in the database stays
whole for `audit_export` to fill the gap.
"""

import atexit
import json
import logging
import os
import queue
import socket
import threading
import time
from datetime import UTC
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import Counter

log = logging.getLogger("portal.audit")

FAILURES = Counter(
    "portal_audit_syslog_failures", "Audit events that could not be sent to AUDIT_SYSLOG", ["cause"]
)
SENT = Counter("portal_audit_syslog_sent", "Audit events sent to AUDIT_SYSLOG")

AUTHPRIV, INFO, NOTICE = 10, 6, 5
APP_NAME = "secure-portal"
QUEUE_SIZE = 10_000
CONNECT_SECONDS = 2
RETRY_SECONDS = 5
FLUSH_SECONDS = 3


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


class Stream:
    """One process's sender: a queue and a thread, started at the first event (and again after a fork)."""

    def __init__(self, url):
        self.scheme, self.host, self.port = parse(url)
        self.queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.pid = None
        self.sock = None
        self.down_until = 0.0
        self.lock = threading.Lock()

    def put(self, payload):
        with self.lock:
            if self.pid != os.getpid():  # a forked worker has the queue but not the thread
                self.pid, self.queue, self.sock = os.getpid(), queue.Queue(maxsize=QUEUE_SIZE), None
                threading.Thread(target=self._run, name="audit-syslog", daemon=True).start()
        try:
            self.queue.put_nowait(payload)
        except queue.Full:
            FAILURES.labels("queue_full").inc()

    def flush(self, seconds=FLUSH_SECONDS):
        """At exit: give the thread a moment to send what is queued (a command's events)."""
        deadline = time.monotonic() + seconds
        while self.pid == os.getpid() and self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def _run(self):
        while True:
            payload = self.queue.get()
            try:
                self._deliver(payload)
            finally:
                self.queue.task_done()

    def _deliver(self, payload):
        if time.monotonic() < self.down_until:
            FAILURES.labels("unreachable").inc()
            return
        for attempt in (1, 2):  # a TCP connection the server closed is opened once more
            try:
                self._send(payload)
                SENT.inc()
                return
            except OSError as error:
                self._close()
                if attempt == 2:
                    self.down_until = time.monotonic() + RETRY_SECONDS
                    FAILURES.labels("unreachable").inc()
                    log.warning(
                        "event=audit_syslog_failed target=%s://%s:%s error=%s",
                        self.scheme, self.host, self.port, type(error).__name__,
                    )  # fmt: skip

    def _send(self, payload):
        if self.scheme == "udp":
            if self.sock is None:
                family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
                self.sock = socket.socket(family[0], socket.SOCK_DGRAM)
                self.address = family[4]
            self.sock.sendto(payload, self.address)
            return
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=CONNECT_SECONDS)
        # RFC 6587 octet counting: the length, a space, the message.
        self.sock.sendall(str(len(payload)).encode() + b" " + payload)

    def _close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


_streams = {}


def send(event):
    """Queue one committed event for the SIEM (never raises, never waits)."""
    url = settings.AUDIT_SYSLOG
    stream = _streams.get(url)
    if stream is None:
        stream = _streams[url] = Stream(url)
        atexit.register(stream.flush)
    stream.put(frame(event))
