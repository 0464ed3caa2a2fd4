"""System checks: no process starts without valid key-encryption keys; `check --deploy` tries the store."""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from . import crypto, scanning, sealed, storage


@checks.register("portal_keys")
def key_encryption_keys(app_configs=None, **kwargs):
    """Without valid PORTAL_KEKS nothing can be held or read: refuse to start rather than answer 451
    to every message."""
    try:
        crypto.keks()
    except ImproperlyConfigured as error:
        hint = "Generate one with `manage.py generate_kek` and give it to every process (see README)."
        return [checks.Error(str(error), hint=hint, id="portal.E001")]
    return []


@checks.register(checks.Tags.files, deploy=True)
def blob_store(app_configs=None, **kwargs):
    """Which store holds the encrypted attachments, and whether a test object can be written, read and
    deleted there (only with --deploy: it touches the store)."""
    where, problem = storage.check()
    if problem:
        return [checks.Error(f"Attachments: {where}: {problem}", id="portal.E002")]
    return [
        checks.Info(f"Attachments: {where}: a test object was written, read and deleted.", id="portal.I001")
    ]


@checks.register("portal_scanning")
def scanner_address(app_configs=None, **kwargs):
    """A mistyped CLAMD_ADDRESS would leave every message waiting: the process does not start."""
    if settings.SCAN_TOO_LARGE not in scanning.TOO_LARGE_VERDICTS:
        return [
            checks.Error(
                f"SCAN_TOO_LARGE must be one of {', '.join(scanning.TOO_LARGE_VERDICTS)}, not "
                f"{settings.SCAN_TOO_LARGE!r}.",
                id="portal.E010",
            )
        ]
    if not scanning.enabled():
        return []
    try:
        scanning.address()
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="portal.E005")]
    return []


@checks.register(checks.Tags.security, deploy=True)
def malware_scanning(app_configs=None, **kwargs):
    """Recipients outside the organisation send files in: unscanned, they reach staff as they came."""
    if not scanning.enabled():
        return [
            checks.Warning(
                "Attachments are not scanned for malware.",
                hint="Install Debian's clamav-daemon and set CLAMD_ADDRESS=unix:///run/clamav/clamd.ctl "
                "(docs/scanning.md).",
                id="portal.W002",
            )
        ]
    found = []
    if not scanning.ping():
        # A warning, as the services take it: they run on, held mail waits for clamd and uploads are refused.
        found.append(
            checks.Warning(
                f"clamd does not answer at {settings.CLAMD_ADDRESS}: held mail waits for it, uploads are "
                "refused until it does.",
                hint="systemctl status clamav-daemon (docs/scanning.md).",
                id="portal.W008",
            )
        )
    short = scanning.limits_below(settings.MAX_UPLOAD_MB * 1024 * 1024)
    if short:
        found.append(
            checks.Warning(
                f"clamd's limits in {settings.CLAMD_CONFIG_FILE} are below what the portal accepts "
                f"(MAX_UPLOAD_MB={settings.MAX_UPLOAD_MB}): {', '.join(short)}. A larger file, or an archive "
                "member past them, is quarantined as too large to scan (or passes as clean, without "
                "AlertExceedsMax).",
                hint="Set StreamMaxLength, MaxFileSize and MaxScanSize to at least "
                f"{settings.MAX_UPLOAD_MB}M and AlertExceedsMax yes, then restart clamd "
                "(deploy/install --with-clamav does; docs/scanning.md).",
                id="portal.W004",
            )
        )
    return found


@checks.register("portal_keys", deploy=True)
def sealed_under_old_keys(app_configs=None, **kwargs):
    """Before an old key-encryption key is taken away: everything sealed under it must be re-wrapped, or
    it cannot be opened any more (messages, spooled mail, webhook secrets)."""
    try:
        missing, older = sealed.under_missing_keys(), sealed.under_older_keys()
    except (ImproperlyConfigured, DatabaseError):
        return []  # no keys: portal.E001 says so; no database: nothing to count
    found = []
    if missing:
        found.append(
            checks.Error(
                f"Sealed under a key that PORTAL_KEKS no longer holds: {sealed.describe(missing)}.",
                hint="Put the old key back in PORTAL_KEKS (below the newest) and run `manage.py rotate_keys` "
                "(docs/keys.md).",
                id="portal.E008",
            )
        )
    if older:
        found.append(
            checks.Warning(
                f"Still sealed under an older key: {sealed.describe(older)}.",
                hint="Run `manage.py rotate_keys` before removing the older key from PORTAL_KEKS.",
                id="portal.W003",
            )
        )
    return found
