"""Drives the real OpenID provider of `openid_provider_site.py` (django-oauth-toolkit, its own process).

`sign_in_as(address)` is the person's session at the provider (a browser's cookies there);
`authorize(url)` is that browser following the portal's redirect to the provider: the provider's
answer, the portal's callback address with its code.
"""

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SITE = Path(__file__).with_name("openid_provider_site.py")
CLIENT_ID, CLIENT_SECRET = "portal", "portal-secret"  # noqa: S105  (the throwaway provider's test client)


def new_key(folder):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "key.pem").write_bytes(pem)


class OpenIdProvider:
    def __init__(self, folder, port, portal_base_url):
        self.folder, self.port, self.portal = folder, port, portal_base_url
        self.base = f"http://127.0.0.1:{port}"
        self.issuer = f"{self.base}/o"
        self.process = None
        self.browser = requests.Session()
        new_key(folder)

    def start(self):
        log = self.folder / "provider.log"  # a file, not a pipe nobody reads after start (it could fill)
        with log.open("a") as errors:
            self.process = subprocess.Popen(
                [sys.executable, str(SITE), str(self.folder), str(self.port), self.portal],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the OpenID provider did not start: {log.read_text()[-2000:]}")
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                requests.get(self.issuer + "/.well-known/openid-configuration", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.1)

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def rotate_key(self):
        """A new signing key, the old one gone: as a provider rotating its keys."""
        self.stop()
        new_key(self.folder)
        self.start()

    def sign_in_as(
        self, address, *, verified=True, name="Olive Open", address_in="id_token", account="", style=""
    ):
        """The browser's session at the provider: a new one, signed in as `address` (which the provider
        puts in the ID token, or only at its userinfo endpoint). `account`: the provider's account, when
        it is not the one named by the address (its subject is another). `style="entra"`: the address
        vouched for by `xms_edov`, not `email_verified`, as Microsoft Entra ID does."""
        self.browser = requests.Session()
        fields = {"email": address, "verified": "yes" if verified else "no", "name": name, "account": account}
        fields["style"] = style
        answer = self.browser.post(
            f"{self.base}/test-login/", {**fields, "address_in": address_in}, timeout=10
        )
        answer.raise_for_status()

    def authorize(self, url):
        """The browser at the provider's authorization URL: where the provider sends it back."""
        answer = self.browser.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text[:1000]
        return answer.headers["Location"]

    def register_portal(self, base_url):
        """Know the portal at another address too (its callback and its logout page there)."""
        requests.post(f"{self.base}/test-register/", {"portal": base_url}, timeout=10).raise_for_status()

    def logout_token(self, account, **changes):
        """The provider's back-channel logout token for its `account` (what it would post to the portal);
        `changes` set claims (None drops one)."""
        fields = {"account": account, "changes": json.dumps(changes)}
        answer = requests.post(f"{self.base}/test-logout-token/", fields, timeout=10)
        answer.raise_for_status()
        return answer.text

    def signed_in(self):
        """Who the browser's session at the provider belongs to ('' after a logout there)."""
        return self.browser.get(f"{self.base}/who/", timeout=10).text

    def follow(self, url):
        """The browser at a provider's URL (its logout): where it is sent next."""
        answer = self.browser.get(url, allow_redirects=False, timeout=10)
        return answer.status_code, answer.headers.get("Location", "")


def path_and_query(url):
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")
