"""The API's background work, run by `manage.py worker` (portal.worker): webhook deliveries, and their
queue, watched."""

from portal import worker
from portal.metrics import watch_queue

from . import webhooks
from .models import WebhookDelivery

worker.register(webhooks.deliver_due, "webhooks", order=60)
watch_queue(
    "webhookdelivery",
    lambda: WebhookDelivery.objects.filter(delivered_at__isnull=True, failed_at__isnull=True),
    lambda: WebhookDelivery.objects.filter(failed_at__isnull=False),
)
