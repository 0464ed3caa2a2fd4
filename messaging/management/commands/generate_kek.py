"""Print a new key-encryption key for PORTAL_KEKS."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from messaging.crypto import new_kek_text


class Command(BaseCommand):
    help = "Print a new key-encryption key (id:base64). Put it first in PORTAL_KEKS, then run rotate_keys."
    requires_system_checks = []  # it makes the first key, before there is one to check

    def add_arguments(self, parser):
        parser.add_argument("--id", default=None, help="the key's id (default: k<date and time>)")

    def handle(self, *args, id=None, **options):
        self.stdout.write(new_kek_text(id or timezone.now().strftime("k%Y%m%d%H%M%S")))
