"""Messaging: held messages and their delivery (built in a later issue)."""

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Secure messages"
    default_auto_field = "django.db.models.BigAutoField"
