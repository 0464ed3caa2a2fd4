"""Check the company directory: reachable, service bind, timing, and what it holds for an address."""

from django.core.management.base import BaseCommand

from accounts.methods.network import diagnose


class Command(BaseCommand):
    help = "Check the LDAP directory used for network passwords (optionally, look up an address)."

    def add_arguments(self, parser):
        parser.add_argument("email", nargs="?", default="")

    def handle(self, *args, email, **options):
        report = diagnose(email)
        yes = {True: "yes", False: "no"}
        self.stdout.write(f"server: {report['server']}")
        if not report["enabled"]:
            self.stdout.write("network passwords are off (LDAP_SERVER_URI is not set)")
            return
        self.stdout.write(f"reachable: {yes[report['reachable']]}")
        self.stdout.write(f"service bind: {yes[report['service_bind']]}")
        self.stdout.write(f"took: {report['milliseconds']} ms")
        if report.get("error"):
            self.stdout.write(f"error: {report['error']}")
        if email and "entries" in report:
            if not report["entries"]:
                self.stdout.write(f"{email}: not found in the directory")
            for entry in report["entries"]:
                self.stdout.write(f"{email}: {entry['dn']}")
                for key, values in entry["attributes"].items():
                    self.stdout.write(f"  {key}: {', '.join(values)}")
