"""Django's createsuperuser, with the new account in the audit trail (as `manage.py`)."""

from django.contrib.auth.management.commands import createsuperuser
from django.db import transaction

from accounts import actions
from accounts.models import User


class Command(createsuperuser.Command):
    def handle(self, *args, **options):
        before = set(User.objects.filter(is_superuser=True).values_list("pk", flat=True))
        with transaction.atomic():
            super().handle(*args, **options)
            for user in User.objects.filter(is_superuser=True).exclude(pk__in=before):
                actions.record_created_by_django(actions.COMMAND_LINE, None, user)
