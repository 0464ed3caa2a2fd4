from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API and webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from messaging import sealed
        from portal import worker
        from portal.metrics import watch_queue

        from . import schema, webhooks  # noqa: F401  (the OpenAPI extension registers itself)
        from .models import WebhookDelivery, WebhookEndpoint

        sealed.register(WebhookEndpoint, key_id="secret_key_id", wrapped="secret_wrapped")

        worker.register(webhooks.deliver_due, "webhooks", order=60)
        watch_queue(
            "webhookdelivery",
            lambda: WebhookDelivery.objects.filter(delivered_at__isnull=True, failed_at__isnull=True),
            lambda: WebhookDelivery.objects.filter(failed_at__isnull=False),
        )
