"""Re-wrap everything sealed under PORTAL_KEKS (messages, spooled mail, webhook secrets) with the newest."""

from django.core.management.base import BaseCommand, CommandError

from messaging import crypto, sealed


class Command(BaseCommand):
    help = "Re-wrap every sealed key (messages, spooled mail, webhook secrets) under the newest KEK."

    def handle(self, *args, **options):
        newest = crypto.keks()[0].id
        done, unknown = sealed.rotate()
        for label, count in done.items():
            self.stdout.write(f"{label}: re-wrapped {count} under {newest}.")
        if unknown:
            raise CommandError(
                f"Not re-wrapped, their key is not in PORTAL_KEKS here: {sealed.describe(unknown)}. "
                "Put the old key back (below the new one) and run rotate_keys again."
            )
        self.stdout.write(f"Everything sealed is under {newest}: the older keys may be removed.")
