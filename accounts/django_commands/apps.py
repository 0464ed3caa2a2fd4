from django.apps import AppConfig


class DjangoCommandsConfig(AppConfig):
    name = "accounts.django_commands"
    label = "accounts_django_commands"
    verbose_name = "Django's account commands, audited"
