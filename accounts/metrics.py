"""What the accounts app tells Prometheus at each scrape (registered with portal.metrics when ready)."""

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from portal.metrics import collects

from .methods import saml
from .models import LoginAttempt, Throttle


@collects
def logins():
    family = CounterMetricFamily(
        "portal_logins", "Login attempts, by method and outcome", labels=["method", "outcome"]
    )
    for row in LoginAttempt.objects.values("method", "outcome").annotate(n=Count("id")).order_by():
        family.add_metric([row["method"] or "none", row["outcome"]], row["n"])
    yield family
    failures = CounterMetricFamily("portal_login_failures", "Failed logins, by reason", labels=["reason"])
    failed = LoginAttempt.objects.filter(outcome=LoginAttempt.Outcome.FAILURE)
    for row in failed.values("reason").annotate(n=Count("id")).order_by():
        failures.add_metric([row["reason"] or "none"], row["n"])
    yield failures
    yield GaugeMetricFamily(
        "portal_lockouts_active", "Addresses and clients locked out now",
        value=Throttle.objects.filter(locked_until__gt=timezone.now()).count(),
    )  # fmt: skip


@collects
def certificate_expiry():
    if not saml.enabled():
        return
    certificates = saml.diagnose().get("certificates") or []
    if certificates:
        yield GaugeMetricFamily(
            "portal_saml_idp_certificate_expiry_timestamp_seconds",
            "When the IdP's newest signing certificate expires",
            value=certificates[-1]["expires"].timestamp(),
        )  # fmt: skip
