"""Re-wrap every message key under the newest key-encryption key."""

from django.core.management.base import BaseCommand
from django.db import transaction

from messaging import crypto
from messaging.models import Message


class Command(BaseCommand):
    help = "Re-wrap message keys under the newest key in PORTAL_KEKS (the first one)."

    def handle(self, *args, **options):
        newest = crypto.keks()[0].id
        count = 0
        for pk in Message.objects.exclude(key_id=newest).values_list("pk", flat=True).iterator():
            with transaction.atomic():
                message = Message.objects.select_for_update().get(pk=pk)
                key = crypto.unwrap(message.key_id, message.wrapped_key)
                message.key_id, message.wrapped_key = crypto.wrap(key)
                message.save(update_fields=["key_id", "wrapped_key"])
                count += 1
        self.stdout.write(f"Re-wrapped {count} message keys under {newest}.")
