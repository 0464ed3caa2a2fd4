"""Accounts: who may log in, and how."""

from importlib import import_module

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and sign-in"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import methods

        for name in methods.MODULES:  # each sign-in method registers itself
            import_module(f"{methods.__name__}.{name}")
        from . import metrics, passwords, sessions  # noqa: F401  (collectors, outboxes and signals register)
