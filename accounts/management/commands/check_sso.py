"""Check SAML single sign-on: the portal's names for the IdP, the IdP's metadata and certificates."""

from django.core.management.base import BaseCommand

from accounts.methods.saml import diagnose


class Command(BaseCommand):
    help = "Check the SAML identity provider's metadata as the portal reads it."

    def handle(self, *args, **options):
        report = diagnose()
        self.stdout.write(f"metadata: {report['metadata']}")
        self.stdout.write(f"portal entity ID: {report['entity_id']}")
        self.stdout.write(f"assertion consumer service: {report['acs_url']}")
        self.stdout.write(f"portal signs its requests: {'yes' if report['signs_requests'] else 'no'}")
        if not report["enabled"]:
            self.stdout.write("single sign-on is off (SAML_IDP_METADATA is not set)")
            return
        if "idp" in report:
            self.stdout.write(f"identity provider: {report['idp']}")
            for url in report["sign_in_urls"]:
                self.stdout.write(f"sign-in address: {url}")
            for cert in report["certificates"]:
                self.stdout.write(
                    f"signing certificate: {cert['subject']}, expires {cert['expires']:%Y-%m-%d}"
                    f" ({cert['days_left']} days left)"
                )
        if report.get("error"):
            self.stdout.write(f"error: {report['error']}")
