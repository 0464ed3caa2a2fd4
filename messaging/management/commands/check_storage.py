"""Say which store holds the encrypted attachments, and whether it takes a test object."""

from django.core.management.base import BaseCommand, CommandError

from messaging import storage


class Command(BaseCommand):
    help = "Show where attachments are stored and write, read and delete a test object there."

    def handle(self, *args, **options):
        where, problem = storage.check()
        self.stdout.write(f"Attachments are stored in: {where}")
        if problem:
            raise CommandError(f"The store does not work: {problem}")
        self.stdout.write("A test object was written, read and deleted.")
