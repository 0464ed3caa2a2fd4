"""Envelope encryption at rest: AES-256-GCM under a per-message key wrapped by a key-encryption key.

PORTAL_KEKS lists the key-encryption keys as `id:base64key`, newest first: the newest wraps new
message keys, every listed key unwraps. `manage.py rotate_keys` re-wraps old messages.

Attachments are encrypted in chunks as they stream, in and out, so memory stays flat whatever
the size. Each chunk's nonce holds its index and its associated data says whether it is the
last, so chunks cannot be reordered, dropped or cut off without the decryption failing.
"""

import base64
import hashlib
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

CHUNK = 256 * 1024  # plaintext bytes per chunk
TAG = 16
MAGIC = b"PMC1"


@dataclass(frozen=True)
class Kek:
    id: str
    key: bytes


def new_kek_text(kek_id):
    """A fresh key-encryption key in the PORTAL_KEKS format."""
    return f"{kek_id}:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"


class UnknownKey(Exception):
    """A message was wrapped with a key-encryption key this process does not hold (yet): a rotation in
    progress, or a node with an older key list. Answered as 503, with a log line naming the key."""

    def __init__(self, kek_id):
        super().__init__(f"PORTAL_KEKS does not hold the key {kek_id!r} that a message needs.")
        self.kek_id = kek_id


_file = {"stamp": None, "items": []}


def _configured():
    """The key list: PORTAL_KEKS_FILE (read again whenever it changes, so a rotation reaches every
    running process without a restart), else PORTAL_KEKS."""
    path = settings.PORTAL_KEKS_FILE
    if not path:
        return settings.PORTAL_KEKS
    try:
        stat = os.stat(path)
    except OSError as error:
        raise ImproperlyConfigured(f"PORTAL_KEKS_FILE {path} cannot be read: {error.strerror}") from error
    stamp = (path, stat.st_mtime_ns, stat.st_size)
    if _file["stamp"] != stamp:
        with open(path) as handle:
            text = handle.read()
        _file.update(stamp=stamp, items=[i for i in text.replace(",", "\n").split() if not i.startswith("#")])
    return _file["items"]


def keks():
    """The configured key-encryption keys, newest first."""
    found = []
    for item in _configured():
        kek_id, _, encoded = item.partition(":")
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError as error:
            raise ImproperlyConfigured(f"PORTAL_KEKS: key {kek_id!r} is not base64") from error
        if not kek_id or len(key) != 32:
            raise ImproperlyConfigured(f"PORTAL_KEKS: key {kek_id!r} must be 32 bytes, as id:base64")
        found.append(Kek(kek_id, key))
    if not found:
        raise ImproperlyConfigured("PORTAL_KEKS is not set: held messages cannot be encrypted.")
    return found


def _kek(kek_id):
    for kek in keks():
        if kek.id == kek_id:
            return kek
    raise UnknownKey(kek_id)


def new_message_key():
    """A fresh message key, and its wrapped form: (key, kek_id, wrapped)."""
    key = AESGCM.generate_key(bit_length=256)
    kek_id, wrapped = wrap(key)
    return key, kek_id, wrapped


def wrap(key):
    kek = keks()[0]
    nonce = os.urandom(12)
    return kek.id, nonce + AESGCM(kek.key).encrypt(nonce, key, b"message-key:" + kek.id.encode())


def unwrap(kek_id, wrapped):
    wrapped = bytes(wrapped)
    kek = _kek(kek_id)
    return AESGCM(kek.key).decrypt(wrapped[:12], wrapped[12:], b"message-key:" + kek_id.encode())


def seal(key, plaintext, context):
    """Encrypt a small value (a body): nonce + ciphertext."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def open_sealed(key, sealed, context):
    sealed = bytes(sealed)
    if not sealed:
        return b""
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], context)


def _chunk_nonce(prefix, index):
    return prefix + struct.pack(">I", index)


def _chunk_aad(context, final):
    return context + (b":final" if final else b":more")


def encrypt_stream(key, source, sink, context):
    """Encrypt `source` (a binary file) into `sink` chunk by chunk: returns (size, sha256 hex)."""
    aes = AESGCM(key)
    prefix = os.urandom(8)
    sink.write(MAGIC + prefix)
    digest, size, index = hashlib.sha256(), 0, 0
    chunk = source.read(CHUNK)
    while True:
        following = source.read(CHUNK) if len(chunk) == CHUNK else b""
        final = not following
        digest.update(chunk)
        size += len(chunk)
        sink.write(aes.encrypt(_chunk_nonce(prefix, index), chunk, _chunk_aad(context, final)))
        if final:
            return size, digest.hexdigest()
        chunk, index = following, index + 1


def decrypt_stream(key, source, context):
    """Yield the plaintext of an encrypted stream, chunk by chunk; raises if anything was altered."""
    aes = AESGCM(key)
    header = source.read(len(MAGIC) + 8)
    if header[: len(MAGIC)] != MAGIC:
        raise ValueError("not an encrypted attachment")
    prefix, index = header[len(MAGIC) :], 0
    chunk = source.read(CHUNK + TAG)
    while True:
        following = source.read(CHUNK + TAG) if len(chunk) == CHUNK + TAG else b""
        final = not following
        yield aes.decrypt(_chunk_nonce(prefix, index), chunk, _chunk_aad(context, final))
        if final:
            return
        chunk, index = following, index + 1
