"""Make a DKIM key for the portal's emails and print the DNS record to publish."""

import grp
import os
import shutil
from email.utils import parseaddr

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal import dkim

SERVICE_GROUP = "portal"  # the group of the units in deploy/systemd


def _group_exists(name):
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


class Command(BaseCommand):
    help = "Write a new DKIM private key (RSA 2048, PEM) to --out and print the DNS TXT record to publish."
    requires_system_checks = []  # it makes a key; nothing else need be set up

    def add_arguments(self, parser):
        parser.add_argument("--selector", default="portal", help="the DKIM selector (default: portal)")
        parser.add_argument("--out", required=True, help="the file the private key is written to (mode 600)")
        parser.add_argument(
            "--domain", help="the signing domain (default: DKIM_DOMAIN, else DEFAULT_FROM_EMAIL's)"
        )
        parser.add_argument(
            "--group",
            help="the group that may read the key (mode 640): the services' group; default: 'portal' when "
            "run as root and that group exists, else none (mode 600)",
        )

    def handle(self, *args, selector, out, domain, group, **options):
        domain = (
            domain or settings.DKIM_DOMAIN or parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2]
        )
        if os.path.exists(out):
            raise CommandError(f"{out} exists: choose another file (a key in use must not be overwritten)")
        pem, record = dkim.new_key()
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        group = group or (SERVICE_GROUP if os.geteuid() == 0 and _group_exists(SERVICE_GROUP) else "")
        if group:
            try:
                shutil.chown(out, group=group)
            except (LookupError, PermissionError) as error:
                os.remove(out)
                raise CommandError(f"The key cannot be given to group {group}: {error}") from None
            os.chmod(out, 0o640)
            self.stdout.write(f"The key is readable by group {group} (mode 640), as the services need.")
        else:
            self.stdout.write(
                f"The key is readable by its owner only (mode 600): the services must run as that user, or "
                f"give it to their group: chgrp portal {out} && chmod 640 {out}"
            )
        self.stdout.write(
            f"Private key written to {out}. Publish this DNS record, then set DKIM_DOMAIN={domain} "
        )
        self.stdout.write(f"DKIM_SELECTOR={selector} DKIM_PRIVATE_KEY_FILE={out} for every process:\n")
        self.stdout.write(f'{selector}._domainkey.{domain}. IN TXT "{record}"')
