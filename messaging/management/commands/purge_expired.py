"""Delete what has outlived its use: the content of messages past their retention (their metadata
stays for the record), and guessing-limit counters that no longer count."""

from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from accounts import throttle
from messaging.models import Attachment, Message


class Command(BaseCommand):
    help = (
        "Delete bodies and attachments of messages expired or revoked more than MESSAGE_RETENTION_DAYS ago,"
        " and guessing-limit counters that no longer count."
    )

    def handle(self, *args, **options):
        cutoff = timezone.now() - timedelta(days=settings.MESSAGE_RETENTION_DAYS)
        due = Message.objects.filter(purged_at__isnull=True).filter(
            Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff)
        )
        count = 0
        for message in due.iterator():
            for blob in Attachment.objects.filter(message=message).values_list("blob", flat=True):
                default_storage.delete(blob)
            Attachment.objects.filter(message=message).delete()
            message.body_text = message.body_html = b""
            message.purged_at = timezone.now()
            message.save(update_fields=["body_text", "body_html", "purged_at"])
            count += 1
        self.stdout.write(f"Purged the content of {count} messages.")
        self.stdout.write(f"Forgot {throttle.forget_stale()} guessing-limit counters that no longer count.")
