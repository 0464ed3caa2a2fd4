"""API keys, the answers kept for retried requests, and webhook endpoints with their deliveries."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Outbox


class Scope(models.TextChoices):
    """What a key may do."""

    SEND = "messages:send", _("Send messages")
    READ = "messages:read", _("Read its account's sent messages and their status")
    MANAGE = "messages:manage", _("Recall, extend and resend its account's messages")
    AUDIT = "audit:read", _("Pull the audit trail")


class ApiKey(models.Model):
    """A key acting as one staff account, within its scopes. Only the key's SHA-256 is kept; the key is
    shown once, when it is made."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys", verbose_name=_("acts as")
    )
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, help_text=_("Its first characters."))
    key_hash = models.CharField(_("key (SHA-256)"), max_length=64, unique=True, editable=False)
    scopes = models.CharField(_("scopes"), max_length=200, help_text=_("Comma-separated."))
    allowed_networks = models.TextField(
        _("allowed client networks"), blank=True, help_text=_("One per line or comma-separated; empty: any.")
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.CharField(_("created by"), max_length=254, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(_("last used from"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def audit_name(self):
        """How the audit trail names the actor."""
        return f"api-key:{self.name}"

    def scope_list(self):
        return [s.strip() for s in self.scopes.split(",") if s.strip()]

    def network_list(self):
        return [n for n in self.allowed_networks.replace(",", "\n").split() if n]

    @property
    def is_usable(self):
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class IdempotentAnswer(models.Model):
    """The first answer to a request sent with an Idempotency-Key, given again to its retries (24 h)."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="one_answer_per_idempotency_key")
        ]

    def __str__(self):
        return f"{self.api_key} {self.key}"


class WebhookEndpoint(models.Model):
    """Where the portal posts signed events (Standard Webhooks). The secret is kept encrypted under
    PORTAL_KEKS and shown once."""

    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("events"), default=list, help_text=_("The event types sent here."))
    secret_key_id = models.CharField(max_length=64, editable=False)
    secret_wrapped = models.BinaryField(editable=False)
    secret_sealed = models.BinaryField(editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    disabled_reason = models.CharField(_("disabled because"), max_length=300, blank=True)
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["url"]

    def __str__(self):
        return self.description or self.url


class WebhookDelivery(Outbox):
    """One event for one endpoint: the outbox the worker sends from, retrying for a day."""

    # Without a database constraint: deliveries are queued from a cached list of endpoints, in the
    # transaction of what caused them, and an endpoint deleted meanwhile must never fail that transaction.
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.DO_NOTHING, db_constraint=False, related_name="deliveries"
    )
    event_type = models.CharField(_("event"), max_length=40)
    webhook_id = models.CharField(_("webhook-id"), max_length=64, unique=True)
    payload = models.JSONField(_("payload"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("given up at"), null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(_("last status"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.event_type} to {self.endpoint}"


class WebhookAttempt(models.Model):
    """One try of a delivery: when, the answer's status (or the error), how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField(_("at"), default=timezone.now)
    status = models.PositiveSmallIntegerField(_("status"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    milliseconds = models.PositiveIntegerField(_("time (ms)"), default=0)

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status or self.error}"
