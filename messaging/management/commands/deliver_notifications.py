"""Send the queued emails (notifications, forgotten-password emails), retrying while the relay is down."""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from messaging.notify import deliver_due


class Command(BaseCommand):
    help = "Send the emails that are due (notifications, password help); keeps running unless --once."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="deliver what is due, then exit")
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between rounds")

    def handle(self, *args, once, interval, **options):
        while True:
            close_old_connections()
            try:
                sent = deliver_due()
            except Exception as error:  # the database is away: try again next round
                if once:
                    raise
                self.stderr.write(f"event=notify_round_failed error={type(error).__name__}")
                sent = 0
            if sent:
                self.stdout.write(f"event=emails_sent count={sent}")
            if once:
                return
            time.sleep(interval)
