from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API and webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from messaging import sealed

        from . import schema, tasks  # noqa: F401  (the OpenAPI extension and the worker's jobs register)
        from .models import WebhookEndpoint

        sealed.register(WebhookEndpoint, key_id="secret_key_id", wrapped="secret_wrapped")
