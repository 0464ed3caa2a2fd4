"""Accounts: who may log in, and how."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and sign-in"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import methods, passwords, sessions  # noqa: F401  (methods, outboxes and session signals register)
