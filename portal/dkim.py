"""DKIM: every email the portal sends is signed, so that a recipient's mail server (and a careful person)
can tell a real notification from a look-alike. dkimpy signs; the key is RSA 2048 in a PEM file."""

import functools
import logging
import os
from base64 import b64encode

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

log = logging.getLogger("portal.mail")

# The headers a forger would change; From is required by DKIM. Those a reader trusts are listed twice
# (over-signed, RFC 6376 section 5.4.2): the second names a header that is absent, so a copy with another
# Subject (or From, To...) prepended no longer verifies.
OVER_SIGNED = [b"from", b"to", b"subject", b"date", b"reply-to", b"content-type"]
SIGNED_HEADERS = [*OVER_SIGNED, *OVER_SIGNED, b"cc", b"message-id", b"mime-version"]


def enabled():
    return bool(settings.DKIM_DOMAIN and settings.DKIM_SELECTOR and settings.DKIM_PRIVATE_KEY_FILE)


class KeyUnreadable(OSError):
    """DKIM_PRIVATE_KEY_FILE cannot be read by this process: emails wait (signed or not at all)."""


@functools.cache
def _private_key(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        log.error(
            "event=dkim_key_unreadable file=%s error=%s uid=%d hint=%s", path, type(error).__name__,
            os.geteuid(), "give the key to the services' group: chgrp portal FILE && chmod 640 FILE",
        )  # fmt: skip
        raise KeyUnreadable(f"DKIM_PRIVATE_KEY_FILE {path} cannot be read: {error.strerror}") from error


def signature(message_bytes):
    """The DKIM-Signature header's value for these bytes (CRLF line ends), unfolded."""
    header = dkim.sign(
        message_bytes,
        settings.DKIM_SELECTOR.encode(),
        settings.DKIM_DOMAIN.encode(),
        _private_key(settings.DKIM_PRIVATE_KEY_FILE),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=SIGNED_HEADERS,
    )
    name, _colon, value = header.decode().partition(":")
    return " ".join(value.split())


def sign(message):
    """Add a DKIM-Signature to a Django email message (an email.message.Message of it), when configured."""
    if enabled():
        message["DKIM-Signature"] = signature(message.as_bytes(linesep="\r\n"))
    return message


def new_key():
    """A new RSA 2048 private key: (PEM bytes, the DNS TXT record's value)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, f"v=DKIM1; k=rsa; p={b64encode(public).decode()}"
