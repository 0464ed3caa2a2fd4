"""Signed webhooks (Standard Webhooks): events of the audit trail queued for the endpoints that want them,
in the same transaction, and delivered by the worker, never in the request that caused them.

Each delivery is retried with doubling delays for a day; every try is kept. An endpoint that has failed
for a day is disabled and the administrators are told. Endpoints on loopback, private, link-local or
otherwise reserved addresses are refused (server-side request forgery) unless WEBHOOK_ALLOW_PRIVATE, which
also allows http://; the address is checked when the endpoint is saved and again at each connection,
which goes to the address that was checked. Redirects are not followed; ten seconds is the timeout.
"""

import base64
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import threading
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.translation import gettext as _
from standardwebhooks.webhooks import Webhook

from accounts import actions as account_actions
from accounts.models import User
from messaging import crypto
from portal import audit, mail
from portal.models import AuditEvent

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

log = logging.getLogger("portal.webhooks")

# Audit events that become webhooks; a webhook's type is its event's name (`message.held`).
EVENTS = frozenset(
    {
        AuditEvent.Event.MESSAGE_HELD,
        AuditEvent.Event.RECIPIENT_NOTIFIED,
        AuditEvent.Event.MESSAGE_OPENED,
        AuditEvent.Event.ATTACHMENT_DOWNLOADED,
        AuditEvent.Event.MESSAGE_REPLIED,
        AuditEvent.Event.MESSAGE_RECALLED,
        AuditEvent.Event.MESSAGE_EXPIRED,
        AuditEvent.Event.MESSAGE_QUARANTINED,
    }
)
TYPES = sorted(event.value for event in EVENTS)
RETRY_FOR = timedelta(hours=24)
FIRST_RETRY = timedelta(seconds=30)
ENDPOINTS_SECONDS = 60  # at most this stale, should a change bypass Django's signals


# -- The endpoint's address, checked --------------------------------------------------------------------


def _forbidden(ip):
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local


def check_url(url):
    """(scheme, host, port, the addresses to connect to) of a URL the portal may post to; else
    ValidationError saying why."""
    parts = urlsplit(url)
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise ValidationError(_("A webhook URL starts with https://."))
    if not parts.hostname or parts.username or parts.password:
        raise ValidationError(_("A webhook URL names a host, and no user or password."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError(_("The port of this URL is not a number.")) from None
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError:
        raise ValidationError(_("The host of this URL cannot be found.")) from None
    addresses = sorted({info[4][0] for info in found})
    if not allow_private:
        bad = [a for a in addresses if _forbidden(ipaddress.ip_address(a.split("%")[0]))]
        if bad:
            raise ValidationError(
                _("Webhooks are not sent to private, loopback or link-local addresses (%(addresses)s).")
                % {"addresses": ", ".join(bad)}
            )
    return parts.scheme, parts.hostname, port, addresses


# -- Endpoints and their secrets ------------------------------------------------------------------------


def new_secret():
    """whsec_ and 32 random bytes in standard base64, as the Standard Webhooks libraries read it."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def seal_secret(endpoint, secret):
    key, kek_id, wrapped = crypto.new_message_key()
    endpoint.secret_key_id, endpoint.secret_wrapped = kek_id, wrapped
    endpoint.secret_sealed = crypto.seal(key, secret.encode(), b"webhook-secret")


def secret_of(endpoint):
    key = crypto.unwrap(endpoint.secret_key_id, bytes(endpoint.secret_wrapped))
    return crypto.open_sealed(key, bytes(endpoint.secret_sealed), b"webhook-secret").decode()


ENDPOINTS_KEY = "api:webhook-endpoints"


def _enabled_endpoints():
    """[(endpoint id, its event types)] of the enabled endpoints, from the shared cache (every audited
    request asks; the list changes rarely and is dropped whenever an endpoint is saved or deleted)."""
    rows = cache.get(ENDPOINTS_KEY)
    if rows is None:
        rows = list(WebhookEndpoint.objects.filter(enabled=True).values_list("pk", "events"))
        cache.set(ENDPOINTS_KEY, rows, ENDPOINTS_SECONDS)
    return rows


def forget_endpoints(**_signal):
    cache.delete(ENDPOINTS_KEY)
    transaction.on_commit(lambda: cache.delete(ENDPOINTS_KEY))


post_save.connect(forget_endpoints, sender=WebhookEndpoint, dispatch_uid="api_webhooks_saved")
post_delete.connect(forget_endpoints, sender=WebhookEndpoint, dispatch_uid="api_webhooks_deleted")


# -- Queueing, in the transaction of the event ----------------------------------------------------------


def queue(sender, events, **kwargs):
    """Audit events -> deliveries for the endpoints that want them (none when nobody listens)."""
    wanted = [e for e in events if e.event in EVENTS]
    if not wanted:
        return
    endpoints = _enabled_endpoints()
    if not endpoints:
        return
    deliveries = []
    for event in wanted:
        kind = str(event.event)
        payload = {"type": kind, "timestamp": event.as_json()["time"], "data": event.as_json()}
        for endpoint_id, kinds in endpoints:
            if kind in kinds:
                deliveries.append(
                    WebhookDelivery(
                        endpoint_id=endpoint_id,
                        event_type=kind,
                        webhook_id=f"msg_{uuid.uuid4().hex}",
                        payload=payload,
                    )
                )
    WebhookDelivery.objects.bulk_create(deliveries)


audit.recorded.connect(queue, dispatch_uid="api_webhooks_queue")


# -- Delivery -------------------------------------------------------------------------------------------


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to the address that was checked, with the host's name for TLS (SNI) and its certificate."""

    def __init__(self, host, port, address, **kwargs):
        context = ssl.create_default_context()
        super().__init__(host, port, timeout=settings.WEBHOOK_TIMEOUT, context=context, **kwargs)
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host, port, address):
        super().__init__(host, port, timeout=settings.WEBHOOK_TIMEOUT)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


def post(endpoint, delivery):
    """Send one delivery: (HTTP status or None, error text). The attempt as a whole takes at most the
    seconds (WEBHOOK_TIMEOUT): a receiver that answers a byte at a time is cut off at the deadline."""
    try:
        scheme, host, port, addresses = check_url(endpoint.url)
    except ValidationError as refused:
        return None, "; ".join(refused.messages)[:300]
    body = json.dumps(delivery.payload, separators=(",", ":"))
    moment = timezone.now()
    try:
        secret = secret_of(endpoint)
    except crypto.UnknownKey as error:
        return None, f"its signing secret cannot be opened: {error}"[:300]
    signature = Webhook(secret).sign(delivery.webhook_id, moment, body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "secure-portal-webhooks/1",
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }
    parts = urlsplit(endpoint.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    connection = connection_class(host, port, addresses[0])
    cut_off = threading.Event()
    deadline = threading.Timer(settings.WEBHOOK_TIMEOUT, _cut_off, [connection, cut_off])
    deadline.start()
    try:
        connection.request("POST", path, body=body.encode(), headers=headers)
        answer = connection.getresponse()
        answer.read(64 * 1024)
        return answer.status, "" if 200 <= answer.status < 300 else f"HTTP {answer.status}"
    except (OSError, ValueError, http.client.HTTPException) as error:
        if cut_off.is_set():
            return None, f"no answer within {settings.WEBHOOK_TIMEOUT} seconds"
        return None, f"{type(error).__name__}: {error}"[:300]
    finally:
        deadline.cancel()
        connection.close()


def _cut_off(connection, cut_off):
    """The attempt's deadline: whatever it is waiting for, the socket is shut (and `cut_off` says so)."""
    cut_off.set()
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _claim(pk):
    """Take one due delivery for this worker (a short transaction): other workers skip it for three times
    WEBHOOK_TIMEOUT (an attempt takes at most one; a worker that died meanwhile leaves it to the next)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(
                pk=pk, delivered_at__isnull=True, failed_at__isnull=True, next_attempt_at__lte=timezone.now()
            )
            .first()
        )
        if delivery is not None:
            lease = timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT)
            WebhookDelivery.objects.filter(pk=pk).update(next_attempt_at=timezone.now() + lease)
        return delivery


def deliver(pk):
    """Try one due delivery; True when the endpoint took it. Claimed, then sent with no transaction open
    (a slow receiver holds no lock and keeps no transaction open), then recorded."""
    delivery = _claim(pk)
    if delivery is None:
        return False
    endpoint = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).first()
    if endpoint is None:
        delivery.failed_at, delivery.last_error = timezone.now(), "the endpoint was deleted"
        delivery.save(update_fields=["failed_at", "last_error"])
        return False
    started = time.monotonic()
    status, error = post(endpoint, delivery) if endpoint.enabled else (None, "the endpoint is disabled")
    with transaction.atomic():
        now = timezone.now()
        WebhookAttempt.objects.create(
            delivery=delivery,
            status=status,
            error=error,
            milliseconds=int((time.monotonic() - started) * 1000),
        )
        delivery.attempts += 1
        delivery.last_status, delivery.last_error = status, error
        if status is not None and 200 <= status < 300:
            delivery.delivered_at = now
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        else:
            retry = now + FIRST_RETRY * 2 ** (delivery.attempts - 1)
            if retry > delivery.created_at + RETRY_FOR:
                delivery.failed_at = now
                log.warning("event=webhook_given_up delivery=%s endpoint=%s", delivery.pk, endpoint.pk)
            else:
                delivery.next_attempt_at = retry
            _note_failure(endpoint, now)
        delivery.save()
    return delivery.delivered_at is not None


def _note_failure(endpoint, now):
    """An endpoint failing for a day is disabled, and the administrators are told."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    endpoint.refresh_from_db(fields=["failing_since", "enabled"])
    if endpoint.enabled and endpoint.failing_since <= now - RETRY_FOR:
        reason = _("It has failed every delivery for a day.")
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason=reason)
        forget_endpoints()
        audit.record(audit.Event.WEBHOOK_DISABLED, actor=audit.SYSTEM, url=endpoint.url)
        transaction.on_commit(lambda: _tell_administrators(endpoint))


def _tell_administrators(endpoint):
    for admin in User.objects.filter(is_superuser=True, is_active=True):
        email = mail.build_email(
            admin.email, "webhook_disabled", {"endpoint": endpoint}, language=admin.language
        )
        try:
            email.send()
        except mail.SEND_ERRORS:
            log.warning("event=webhook_disabled_notice_failed endpoint=%s", endpoint.pk)


def deliver_due(limit=200):
    """The worker's step: every delivery that is due; returns how many were taken."""
    due = WebhookDelivery.objects.filter(
        delivered_at__isnull=True, failed_at__isnull=True, next_attempt_at__lte=timezone.now()
    ).order_by("next_attempt_at", "pk")
    return sum(deliver(pk) for pk in list(due.values_list("pk", flat=True)[:limit]))


def _check_may_change_endpoints(actor):
    """An endpoint receives events about every account, signed with a secret it is given: a new outbound
    channel for the organisation's data, so only a superuser (or the portal itself) opens or changes one."""
    if not audit.is_trusted(actor) and not getattr(actor, "is_superuser", False):
        raise account_actions.Refused(
            _("Only a superuser changes webhook endpoints: they receive events about every account.")
        )


def save_endpoint(actor, client, endpoint):
    """An endpoint added or changed (as the admin's form set it): a new one gets its secret, returned
    in plain text this once. Checked and recorded with what changed."""
    _check_may_change_endpoints(actor)
    saved = WebhookEndpoint.objects.filter(pk=endpoint.pk).first() if endpoint.pk else None
    secret = None
    if saved is None:
        secret = new_secret()
        seal_secret(endpoint, secret)
    if endpoint.enabled:
        endpoint.failing_since, endpoint.disabled_reason = None, ""
    changed = [
        field
        for field in ("url", "events", "enabled")
        if saved is not None and getattr(saved, field) != getattr(endpoint, field)
    ]
    with transaction.atomic():
        endpoint.save()
        audit.record(
            audit.Event.WEBHOOK_CHANGED, actor=actor, client=client, url=endpoint.url,
            created=saved is None or None, changed=changed or None, events=endpoint.events,
            enabled=endpoint.enabled,
        )  # fmt: skip
    return secret


def delete_endpoint(actor, client, endpoint):
    _check_may_change_endpoints(actor)
    with transaction.atomic():
        audit.record(audit.Event.WEBHOOK_CHANGED, actor=actor, client=client, url=endpoint.url, deleted=True)
        endpoint.delete()


def resend(actor, client, delivery):
    """The admin's 'Resend': the delivery is tried again now (a new try; the old ones stay)."""
    _check_may_change_endpoints(actor)
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            delivered_at=None, failed_at=None, next_attempt_at=timezone.now()
        )
        audit.record(
            audit.Event.WEBHOOK_RESENT, actor=actor, client=client, webhook_id=delivery.webhook_id,
            event_type=delivery.event_type,
        )  # fmt: skip
