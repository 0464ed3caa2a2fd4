"""manage.py audit_export [--since RFC3339] [--until RFC3339]: the audit trail as JSON lines, oldest first."""

import json
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from portal.models import AuditEvent


def moment(text):
    """An RFC 3339 time (a date alone means its midnight, UTC)."""
    parsed = parse_datetime(text) or parse_datetime(f"{text}T00:00:00")
    if parsed is None:
        raise CommandError(f"Not an RFC 3339 time: {text!r} (e.g. 2026-12-01T09:00:00Z).")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Print the audit trail as one JSON object a line (time, event, actor, subject, message, ip...)."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=moment, help="from this time on (inclusive), RFC 3339")
        parser.add_argument("--until", type=moment, help="before this time (exclusive), RFC 3339")

    def handle(self, *args, since=None, until=None, **options):
        events = AuditEvent.objects.order_by("at", "pk")
        if since:
            events = events.filter(at__gte=since)
        if until:
            events = events.filter(at__lt=until)
        for event in events.iterator(chunk_size=2000):
            self.stdout.write(json.dumps(event.as_json(), ensure_ascii=False, separators=(",", ":")))
