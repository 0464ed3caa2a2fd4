"""Views that belong to no app: the health check, the admin's way in."""

from django.db import DatabaseError, connection
from django.http import HttpResponse, HttpResponseForbidden, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from .health import readiness


@never_cache
def healthz(request):
    """200 when the database answers, 503 when it does not (for load balancers and monitors)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "up"})


@never_cache
def readyz(request):
    """200 when the database, the attachment storage and the cache all answer; 503 naming those that did
    not (for a load balancer's readiness probe; no error text, no secrets)."""
    results, failed = readiness()
    body = {"status": "unavailable" if failed else "ready", "checks": results}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)


@never_cache
def metrics(request):
    """Prometheus' text format, for loopback, METRICS_ALLOWED_NETWORKS or the bearer METRICS_TOKEN only."""
    from . import metrics as portal_metrics

    if not portal_metrics.may_scrape(request):
        return HttpResponseForbidden(
            "Metrics are not public: scrape from an allowed network or with the token.\n"
        )
    return HttpResponse(portal_metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


def admin_login(request):
    """The admin signs in through the portal's own login, so every rule and the audit log apply."""
    target = reverse("accounts:login")
    nxt = request.GET.get("next")
    if nxt:
        target += "?" + urlencode({"next": nxt})
    return redirect(target)


def server_error(request):
    """The 500 page in the organisation's look, even when the database or the cache is what failed."""
    from django.template import loader

    from accounts import branding

    try:
        look = branding.current()
    except Exception:  # the error page must not fail in turn
        look = branding.default_look()
    html = loader.get_template("500.html").render({"branding": look})
    return HttpResponseServerError(html)
