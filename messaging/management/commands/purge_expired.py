"""Delete what has outlived its use: the content of messages past their retention (their envelope
stays for the record), spooled mail given up that long ago, and guessing-limit counters that no longer
count."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from accounts import sessions, throttle
from messaging import actions, spool
from messaging.models import LegalHold, Message
from portal import audit


class Command(BaseCommand):
    help = (
        "Delete bodies and attachments of messages expired or recalled more than PURGE_AFTER_DAYS ago"
        " (not those under legal hold),"
        " and guessing-limit counters that no longer count."
    )

    def handle(self, *args, **options):
        cutoff = timezone.now() - timedelta(days=settings.PURGE_AFTER_DAYS)
        due = Message.objects.filter(purged_at__isnull=True).filter(
            Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff)
        )
        due = LegalHold.objects.not_held(due)  # what is under legal hold is kept
        count = sum(actions.purge(audit.SYSTEM, None, message) for message in list(due))
        self.stdout.write(f"Purged the content of {count} messages.")
        self.stdout.write(f"Purged {spool.purge_given_up(cutoff)} spooled emails that could not be held.")
        self.stdout.write(f"Forgot {throttle.forget_stale()} guessing-limit counters that no longer count.")
        self.stdout.write(f"Forgot {sessions.forget_ended()} sessions that ended by themselves.")
