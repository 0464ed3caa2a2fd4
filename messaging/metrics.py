"""What the messaging app tells Prometheus at each scrape (registered with portal.metrics when ready)."""

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from portal.metrics import collects

from .models import QUARANTINED, AccessEvent, Message, Notification, ScanState, SpooledMail


@collects
def messages():
    notifications = CounterMetricFamily("portal_notifications", "Emails queued, by state", labels=["state"])
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
    events = CounterMetricFamily("portal_message_events", "Opens, downloads, recalls...", labels=["action"])
    for row in AccessEvent.objects.values("action").annotate(n=Count("id")).order_by():
        events.add_metric([row["action"]], row["n"])
    yield events
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
    waiting = Message.objects.filter(scan=ScanState.PENDING)
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
        "portal_messages_quarantined", "Held messages in quarantine (malware found, or too large to scan)",
        value=Message.objects.filter(scan__in=QUARANTINED, purged_at__isnull=True).count(),
    )  # fmt: skip
