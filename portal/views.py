"""Views that belong to no app: health and readiness, metrics, the admin's way in, the branding's files."""

import base64
import logging
import re
import sys
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import Http404, HttpResponse, HttpResponseForbidden, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from . import branding
from . import metrics as portal_metrics
from .forms import SampleIdentifyForm
from .health import readiness
from .mail import build_email
from .models import Branding

log = logging.getLogger("portal.errors")


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
    not (for a load balancer's readiness probe; no error text, no secrets). Answered where /metrics is:
    it probes the storage and the cache, which nobody outside should be able to make it do."""
    if not portal_metrics.may_scrape(request):
        return HttpResponseForbidden(
            "Readiness is not public: ask from an allowed network or with the token.\n"
        )
    results, failed = readiness()
    body = {"status": "unavailable" if failed else "ready", "checks": results}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)


@never_cache
def metrics(request):
    """Prometheus' text format, for loopback, METRICS_ALLOWED_NETWORKS or the bearer METRICS_TOKEN only."""
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


DATABASE_AWAY = (OperationalError, InterfaceError)  # how Django reports a database it cannot reach
RETRY_AFTER_SECONDS = 30


def server_error(request):
    """The 500 page in the organisation's look, even when the database or the cache is what failed; a
    database that cannot be reached is a 503 that says to try again shortly (the page is called while
    Django handles the exception, so it is at hand)."""
    error = sys.exc_info()[1]
    try:
        look = branding.current()
    except Exception:  # the error page must not fail in turn
        look = branding.default_look()
    context = {"branding": look, "request_id": getattr(request, "id", "")}
    if isinstance(error, DATABASE_AWAY):
        log.error("event=database_unavailable error=%s", type(error).__name__)
        html = loader.get_template("503.html").render(context)
        response = HttpResponse(html, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return HttpResponseServerError(loader.get_template("500.html").render(context))


YEAR = 365 * 24 * 3600


def theme(request, colour):
    """The branding's colour as a stylesheet; its address changes with the colour, so it is kept long."""

    look = branding.current()
    if colour != look.colour[1:]:
        raise Http404  # an old colour: the page that asked is out of date
    response = HttpResponse(branding.theme_css(look), content_type="text/css; charset=utf-8")
    patch_cache_control(response, public=True, max_age=YEAR, immutable=True)
    return response


def logo(request, version):
    """The logo as the portal re-encoded it (PNG); its address changes with the logo."""
    row = Branding.objects.filter(pk=1, logo_version=version).exclude(logo_version="").first()
    if row is None:
        raise Http404
    response = HttpResponse(bytes(row.logo), content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    patch_cache_control(response, public=True, max_age=YEAR, immutable=True)
    return response


def branding_preview(request, row):
    """The login page and a notification email as they would look with this (unsaved) branding."""
    look = branding.look_of(row)
    sample = SimpleNamespace(
        sender="sue.sender@example.com",
        subject=_("Quarterly figures"),
        expires_at=timezone.now() + timedelta(days=30),
    )
    context = {"message": sample, "recipient": SimpleNamespace(user=SimpleNamespace(is_external=True))}
    context["link"] = f"{settings.PORTAL_BASE_URL}/m/{'x' * 43}/"
    context.update(check_code="k7qd-2wxm", check_url=f"{settings.PORTAL_BASE_URL}/check/")  # as sent
    email = build_email(
        "recipient@outside.example",
        "new_message",
        context,
        language=translation.get_language(),
        look=look,
        worded=lambda look: branding.notification_wording(
            look, sender=sample.sender, subject=sample.subject, expires_at=sample.expires_at
        ),
    )
    preview_logo = ""
    if row.logo_version and row.logo:
        preview_logo = "data:image/png;base64," + base64.b64encode(bytes(row.logo)).decode()
    context = {
        "branding": look,
        "preview": True,
        "preview_logo": preview_logo,
        "form": SampleIdentifyForm(),
        "step": "identify",
        "email_preview": {
            "from": email.from_email,
            "subject": email.subject,
            "body": re.search(r"<body[^>]*>(.*)</body>", email.alternatives[0][0], re.S).group(1),
        },
    }
    response = render(request, "accounts/branding_preview.html", context)
    response._csp_update = {"style-src": ["'unsafe-inline'"]}  # the email's own inline styles, shown as sent
    return response
