"""Prometheus metrics (prometheus-client): requests by view, and what the database knows, read at scrape time.

Request counts and latencies are counted in each process; with several gunicorn workers they are summed
through PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode). Logins, lockouts,
notifications and message events are read from the database when Prometheus scrapes, so they are right
however many processes wrote them. The SMTP intake serves its own counters on `--metrics-port`.
"""

import os
import time

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Min
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import REGISTRY, GaugeMetricFamily

from .client import address_in, client_ip, client_is_a_trusted_proxy
from .health import readiness
from .models import AuditEvent

REQUESTS = Counter(
    "portal_http_requests_total", "HTTP requests answered, by view and status", ["view", "status"]
)
LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer, by view",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# The intake's own (its process serves them on --metrics-port).
INTAKE_ANSWERS = Counter("portal_intake_answers", "SMTP intake answers to DATA, by code", ["code"])
INTAKE_SIZES = Histogram(
    "portal_intake_message_bytes",
    "Sizes of the messages the intake held",
    buckets=(10_000, 100_000, 1_000_000, 10_000_000, 50_000_000),
)


class RequestMetricsMiddleware:
    """Counts every request by the name of its view (never its path: paths hold tokens and ids)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match else "") or "unmatched"
        LATENCY.labels(view).observe(time.perf_counter() - started)
        REQUESTS.labels(view, str(response.status_code)).inc()
        return response


COLLECTORS = []


def collects(function):
    """Registers a function that yields metric families read from the database at each scrape (each app
    registers its own when it is ready, so the portal never imports them)."""
    COLLECTORS.append(function)
    return function


class DatabaseCollector:
    """What the database knows, as counters and gauges, at each scrape."""

    def describe(self):
        return []  # nothing read at registration (a process may start while the database is away)

    def collect(self):
        unreadable = 0
        for function in COLLECTORS:
            try:
                yield from list(function())
            except DatabaseError:  # the database is away: the process's own counters still serve
                unreadable += 1
        yield GaugeMetricFamily(
            "portal_metrics_unreadable",
            "Groups of metrics the database could not give at this scrape",
            value=unreadable,
        )
        yield GaugeMetricFamily("portal_ready", "1 when /readyz answers 200", value=int(not readiness()[1]))


QUEUES = {}  # name: (the rows still to do, with next_attempt_at; the rows given up on, or None)


def watch_queue(name, pending, given_up=None):
    """A background queue (an outbox) whose due rows and give-ups /metrics shows: `pending()` and
    `given_up()` return querysets (each app registers its own when it is ready)."""
    QUEUES[name] = (pending, given_up)


@collects
def background_queues():
    """How long the oldest due row of each queue has been due (a worker that is stuck, or a job that fails
    every round, shows here whatever the reason), and how many rows each gave up on."""
    now = timezone.now()
    oldest = GaugeMetricFamily(
        "portal_queue_oldest_due_seconds",
        "How long the oldest due row of each background queue has waited past its time (0: none)",
        labels=["queue"],
    )
    gave_up = GaugeMetricFamily(
        "portal_queue_given_up", "Rows a background queue gave up on (see the admin)", labels=["queue"]
    )
    for name, (pending, given_up) in sorted(QUEUES.items()):
        due_at = pending().filter(next_attempt_at__lte=now).aggregate(at=Min("next_attempt_at"))["at"]
        oldest.add_metric([name], (now - due_at).total_seconds() if due_at else 0)
        if given_up is not None:
            gave_up.add_metric([name], given_up().count())
    yield oldest
    yield gave_up


@collects
def audit_syslog_backlog():
    """Audit events written for AUDIT_SYSLOG that the SIEM has not taken yet (read from the database, so
    every process shows it)."""
    pending = AuditEvent.objects.filter(syslog_pending=True)
    oldest = pending.aggregate(at=Min("at"))["at"]
    yield GaugeMetricFamily(
        "portal_audit_syslog_backlog",
        "Audit events waiting to be sent to AUDIT_SYSLOG",
        value=pending.count(),
    )
    yield GaugeMetricFamily(
        "portal_audit_syslog_backlog_oldest_seconds",
        "Age of the oldest audit event waiting for AUDIT_SYSLOG (0: none waits)",
        value=(timezone.now() - oldest).total_seconds() if oldest else 0,
    )


_database_collector = DatabaseCollector()


def registry():
    """The registry /metrics serves: every worker's request metrics, and the database's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        merged.register(_database_collector)
        return merged
    if _database_collector not in REGISTRY._collector_to_names:
        REGISTRY.register(_database_collector)
    return REGISTRY


def may_scrape(request):
    """Loopback by default (METRICS_ALLOWED_NETWORKS), or whoever shows the bearer METRICS_TOKEN."""
    token = settings.METRICS_TOKEN
    given = request.META.get("HTTP_AUTHORIZATION", "")
    if token and given.startswith("Bearer ") and constant_time_compare(given[7:].strip(), token):
        return True
    if request.META.get("HTTP_X_FORWARDED_FOR") and not client_is_a_trusted_proxy(request):
        # It came through a proxy the portal was not told to trust: its loopback address says nothing
        # about the client (nginx on the same host without TRUSTED_PROXIES). Only the token may scrape.
        return False
    return address_in(client_ip(request), settings.METRICS_ALLOWED_NETWORKS)


def exposition():
    return generate_latest(registry())
