"""Check single sign-on: the portal's names for the SAML IdP, its metadata and certificates; the OpenID
provider's discovery document, keys and clock."""

from django.core.management.base import BaseCommand

from accounts.methods import oidc, saml


class Command(BaseCommand):
    help = "Check the SAML identity provider and the OpenID provider as the portal reads them."

    def handle(self, *args, **options):
        self.saml(saml.diagnose())
        self.oidc(oidc.diagnose())

    def saml(self, report):
        self.stdout.write(f"metadata: {report['metadata']}")
        self.stdout.write(f"portal entity ID: {report['entity_id']}")
        self.stdout.write(f"assertion consumer service: {report['acs_url']}")
        self.stdout.write(f"single logout service: {report['sls_url']}")
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

    def oidc(self, report):
        if not report["enabled"]:
            self.stdout.write("OpenID Connect is off (OIDC_ISSUER is not set)")
            return
        self.stdout.write(f"OpenID issuer: {report['issuer']}")
        self.stdout.write(f"OpenID redirect URI: {report['redirect_uri']}")
        self.stdout.write(f"OpenID address after logging out: {report['logged_out_uri']}")
        self.stdout.write(f"OpenID back-channel logout URI: {report['backchannel_logout_uri']}")
        if report.get("error"):
            self.stdout.write(f"OpenID error: {report['error']}")
        else:
            self.stdout.write(f"OpenID signing keys: {report['keys']}, clock difference {report['skew']} s")
