"""Hold one demo message for an external demo recipient (once)."""

import io

from django.core.management.base import BaseCommand

from accounts.models import User
from messaging.holding import IncomingAttachment, hold
from messaging.models import Message

RECIPIENT = "recipient@outside.example"


class Command(BaseCommand):
    help = "Hold a demo secure message from staff@example.com to an external demo recipient."

    def handle(self, *args, **options):
        if Message.objects.filter(recipients__address=RECIPIENT).exists():
            self.stdout.write(f"A demo message for {RECIPIENT} is already held.")
            return
        sender = User.objects.get(email="staff@example.com")
        hold(
            sender=sender.email,
            sender_user=sender,
            recipients=[RECIPIENT],
            subject="Your contract (demo)",
            text="Hello,\n\nPlease find the contract attached. Reply here if anything is unclear.\n\nSam",
            attachments=[
                IncomingAttachment("contract.txt", "text/plain", io.BytesIO(b"The demo contract.\n"))
            ],
            read_receipt=True,
            source=Message.Source.ADMIN,
        )
        self.stdout.write(
            f"Held a demo message for {RECIPIENT}. The notification worker prints its two emails "
            "(the link, and a temporary password) below: open the link to read it as the recipient."
        )
