"""Where the encrypted blobs live: Django's default storage, a local folder or an S3-compatible bucket.

Everything goes through the storage API, so every node of a deployment that shares the bucket
reads what any node wrote. Only ciphertext ever leaves the process.
"""

import os
import secrets

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage


class DurableFileSystemStorage(FileSystemStorage):
    """A local folder whose new files are on the disk when `save()` returns.

    Django's FileSystemStorage leaves a new file in the page cache: a power cut after the intake's 250
    would keep the message's row (committed) and lose its attachment. The file, its folder and the
    folder's parent (a message's folder is new) are synced: about half a millisecond here.
    """

    def _save(self, name, content):
        name = super()._save(name, content)
        path = self.path(name)
        folder = os.path.dirname(path)
        for synced in (path, folder, os.path.dirname(folder)):
            _sync(synced)
        return name


def _sync(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def is_bucket():
    """Whether the blobs go to a bucket (django-storages and boto3, about 20 MiB, are imported only then)."""
    return default_storage.__class__.__module__.startswith("storages.")  # through the lazy wrapper


def open_blob(name):
    """A stream of a stored blob, read in pieces as it is consumed; close it when done.

    django-storages' S3 file first copies the whole object into memory (or a temporary file): a
    200 MB attachment would cost 200 MB per download. The object's own HTTP body streams instead.
    """
    if is_bucket():
        from storages.utils import clean_name

        key = default_storage._normalize_name(clean_name(name))
        return default_storage.bucket.Object(key).get()["Body"]
    return default_storage.open(name, "rb")


def describe():
    """Which store the blobs go to, in words an operator recognises."""
    if is_bucket():
        endpoint = settings.AWS_S3_ENDPOINT_URL or "AWS"
        return f"S3 bucket {settings.AWS_STORAGE_BUCKET_NAME!r} at {endpoint}"
    return f"local folder {settings.MEDIA_ROOT}"


def check():
    """Write, read and delete a test object: (what the store is, None when all worked or what failed)."""
    name = f"portal-check/{secrets.token_hex(8)}.txt"
    content = secrets.token_bytes(32)
    step = "write"
    try:
        saved = default_storage.save(name, ContentFile(content))
        step = "read"
        with open_blob(saved) as stream:
            if stream.read() != content:
                return describe(), "read: the test object came back different"
        step = "delete"
        default_storage.delete(saved)
        if default_storage.exists(saved):
            return describe(), "delete: the test object is still there"
    except Exception as error:  # any failure of the store, described for the operator
        return describe(), f"{step}: {type(error).__name__}: {error}"
    return describe(), None
