"""Prove a restored database opens: every kept message's bodies and attachments decrypt and match."""

import hashlib

from django.core.management.base import BaseCommand, CommandError

from messaging.holding import open_attachment, read_bodies
from messaging.models import Message


class Command(BaseCommand):
    help = (
        "Open every kept message of this database (bodies and attachments, with PORTAL_KEKS and the "
        "attachment storage of this environment) and check each attachment against its SHA-256. Run it "
        "against a restored copy to prove a backup: it exits non-zero when anything does not open."
    )

    def handle(self, *args, **options):
        messages = (
            Message.objects.filter(purged_at__isnull=True).prefetch_related("attachments").order_by("pk")
        )
        opened, attachments, failures = 0, 0, []
        for message in messages.iterator(chunk_size=200):
            try:
                read_bodies(message)
                for attachment in message.attachments.all():
                    digest = hashlib.sha256()
                    for chunk in open_attachment(attachment):
                        digest.update(chunk)
                    if digest.hexdigest() != attachment.sha256:
                        raise ValueError(f"attachment {attachment.public_id} differs from its SHA-256")
                    attachments += 1
                opened += 1
            except Exception as error:  # any reason a message does not open is a failed restore
                failures.append(f"{message.public_id}: {type(error).__name__}: {error}"[:300])
        self.stdout.write(f"{opened} messages and {attachments} attachments open; {len(failures)} do not.")
        for failure in failures[:20]:
            self.stdout.write(f"  does not open: {failure}")
        if failures:
            raise CommandError(f"{len(failures)} messages do not open: the keys or the storage do not match")
