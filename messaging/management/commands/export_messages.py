"""manage.py export_messages --account ADDRESS [--since RFC3339] --out FILE.zip: an account's messages for
eDiscovery (each an .eml and its history as JSON), on the record."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from messaging import ediscovery
from portal import audit
from portal.management.commands.audit_export import moment


class Command(BaseCommand):
    help = "Export every message an account sent or received, as .eml files and their history, in a zip."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="the account's address (or one of its aliases)")
        parser.add_argument("--since", type=moment, help="only messages held from this time on (RFC 3339)")
        parser.add_argument("--out", required=True, help="the zip file to write")

    def handle(self, *args, account, since, out, **options):
        user, _alias = User.objects.find_by_address(account)
        if user is None:
            raise CommandError(f"No account has the address {account}.")
        with open(out, "wb") as sink:
            count = ediscovery.export(
                audit.COMMAND_LINE, None, ediscovery.messages_of(user, since), sink, account=user
            )
        self.stdout.write(f"Exported {count} messages of {user.email} to {out}.")
