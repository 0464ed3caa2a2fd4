"""manage.py api_key create --name NAME --account ADDRESS --scopes a,b [--expires RFC3339] [--networks ...];
api_key revoke --name NAME; api_key list. The key is printed once."""

from django.core.management.base import BaseCommand, CommandError

from accounts import actions as account_actions
from accounts.models import User
from api import keys
from api.models import ApiKey
from portal import audit
from portal.management.commands.audit_export import moment


class Command(BaseCommand):
    help = "Make, revoke or list API keys (a key acts as one staff account, within its scopes)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "revoke", "list"])
        parser.add_argument("--name")
        parser.add_argument("--account", help="the staff account the key acts as")
        parser.add_argument("--scopes", default="", help="comma-separated: " + ", ".join(keys.Scope.values))
        parser.add_argument("--expires", type=moment, help="RFC 3339; none: it does not expire")
        parser.add_argument("--networks", default="", help="client networks allowed, comma-separated")

    def handle(self, *args, action, name, account, scopes, expires, networks, **options):
        if action == "list":
            for row in ApiKey.objects.select_related("account"):
                state = "revoked" if row.revoked_at else ("expired" if not row.is_usable else "active")
                self.stdout.write(f"{row.name}\t{row.prefix}…\t{row.account.email}\t{row.scopes}\t{state}")
            return
        if not name:
            raise CommandError("Give the key's --name.")
        if action == "revoke":
            row = ApiKey.objects.filter(name=name).first()
            if row is None:
                raise CommandError(f"No key is called {name}.")
            keys.revoke(audit.COMMAND_LINE, None, row)
            self.stdout.write(f"Revoked {name}.")
            return
        user, _alias = User.objects.find_by_address(account or "")
        if user is None:
            raise CommandError(f"No account has the address {account}.")
        try:
            _row, key = keys.make(
                audit.COMMAND_LINE, None, name=name, account=user,
                scopes=[s.strip() for s in scopes.split(",") if s.strip()], expires_at=expires,
                allowed_networks=networks.replace(",", "\n"),
            )  # fmt: skip
        except (account_actions.Refused, ValueError) as refusal:
            raise CommandError(str(refusal)) from None
        self.stdout.write(key)
