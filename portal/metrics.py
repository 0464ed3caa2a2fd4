"""Prometheus metrics (prometheus-client): requests by view, and what the database knows, read at scrape time.

Request counts and latencies are counted in each process; with several gunicorn workers they are summed
through PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode). Logins, lockouts,
notifications and message events are read from the database when Prometheus scrapes, so they are right
however many processes wrote them. The SMTP intake serves its own counters on `--metrics-port`.
"""

import ipaddress
import os
import time

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

from .client import client_ip, client_is_a_trusted_proxy

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


class DatabaseCollector:
    """What the database knows, as counters and gauges, at each scrape."""

    def collect(self):
        from accounts.models import LoginAttempt, Throttle
        from messaging.models import AccessEvent, Message, Notification

        logins = CounterMetricFamily(
            "portal_logins", "Login attempts, by method and outcome", labels=["method", "outcome"]
        )
        for row in LoginAttempt.objects.values("method", "outcome").annotate(n=Count("id")).order_by():
            logins.add_metric([row["method"] or "none", row["outcome"]], row["n"])
        yield logins
        failures = CounterMetricFamily("portal_login_failures", "Failed logins, by reason", labels=["reason"])
        failed = LoginAttempt.objects.filter(outcome=LoginAttempt.Outcome.FAILURE)
        for row in failed.values("reason").annotate(n=Count("id")).order_by():
            failures.add_metric([row["reason"] or "none"], row["n"])
        yield failures
        yield GaugeMetricFamily(
            "portal_lockouts_active", "Addresses and clients locked out now",
            value=Throttle.objects.filter(locked_until__gt=timezone.now()).count(),
        )  # fmt: skip

        notifications = CounterMetricFamily(
            "portal_notifications", "Emails queued, by state", labels=["state"]
        )
        queued = Notification.objects.count()
        sent = Notification.objects.filter(sent_at__isnull=False).count()
        notifications.add_metric(["queued"], queued)
        notifications.add_metric(["sent"], sent)
        notifications.add_metric(["retried"], Notification.objects.filter(attempts__gt=1).count())
        notifications.add_metric(
            ["failing"], Notification.objects.filter(sent_at__isnull=True).exclude(last_error="").count()
        )
        yield notifications
        oldest = Notification.objects.filter(sent_at__isnull=True).aggregate(at=Min("created_at"))["at"]
        yield GaugeMetricFamily(
            "portal_notifications_oldest_unsent_seconds",
            "Age of the oldest email not sent yet (0: none waits)",
            value=(timezone.now() - oldest).total_seconds() if oldest else 0,
        )  # fmt: skip

        held = CounterMetricFamily("portal_messages_held", "Messages held, by source", labels=["source"])
        for row in Message.objects.values("source").annotate(n=Count("id")).order_by():
            held.add_metric([row["source"]], row["n"])
        yield held
        events = CounterMetricFamily(
            "portal_message_events", "Opens, downloads, recalls...", labels=["action"]
        )
        for row in AccessEvent.objects.values("action").annotate(n=Count("id")).order_by():
            events.add_metric([row["action"]], row["n"])
        yield events
        from messaging.models import SpooledMail

        spooled = SpooledMail.objects.filter(failed_at__isnull=True)
        oldest_spooled = spooled.aggregate(at=Min("received_at"))["at"]
        yield GaugeMetricFamily("portal_spool_backlog", "Accepted mail not held yet", value=spooled.count())
        yield GaugeMetricFamily(
            "portal_spool_oldest_seconds",
            "Age of the oldest accepted mail not held yet (0: none waits)",
            value=(timezone.now() - oldest_spooled).total_seconds() if oldest_spooled else 0,
        )
        yield GaugeMetricFamily(
            "portal_spool_failed", "Accepted mail the portal gave up holding (see the admin)",
            value=SpooledMail.objects.filter(failed_at__isnull=False).count(),
        )  # fmt: skip
        waiting = Message.objects.filter(scan="pending")
        oldest_waiting = waiting.aggregate(at=Min("created_at"))["at"]
        yield GaugeMetricFamily(
            "portal_scan_backlog", "Held messages waiting for the malware scanner", value=waiting.count()
        )
        yield GaugeMetricFamily(
            "portal_scan_backlog_oldest_seconds",
            "Age of the oldest message waiting for the malware scanner (0: none waits)",
            value=(timezone.now() - oldest_waiting).total_seconds() if oldest_waiting else 0,
        )
        yield GaugeMetricFamily(
            "portal_messages_quarantined", "Held messages in quarantine (malware found)",
            value=Message.objects.filter(scan="infected", purged_at__isnull=True).count(),
        )  # fmt: skip

        from portal.health import readiness

        yield GaugeMetricFamily("portal_ready", "1 when /readyz answers 200", value=int(not readiness()[1]))
        yield from _certificate_expiry()


def _certificate_expiry():
    from accounts.methods import saml

    if not saml.enabled():
        return
    report = saml.diagnose()
    certificates = report.get("certificates") or []
    if certificates:
        latest = certificates[-1]["expires"]
        yield GaugeMetricFamily(
            "portal_saml_idp_certificate_expiry_timestamp_seconds",
            "When the IdP's newest signing certificate expires",
            value=latest.timestamp(),
        )  # fmt: skip


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
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_NETWORKS)


def exposition():
    return generate_latest(registry())
