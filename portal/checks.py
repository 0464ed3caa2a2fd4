"""System checks of the portal itself: no process starts in production with a key anyone can know."""

import os

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from . import audit_syslog, dkim

# The key the settings fall back to: in the source code, so known to everybody.
DEVELOPMENT_SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"  # noqa: S105
SHORTEST_SECRET_KEY = 50


@checks.register("portal_keys")
def secret_key(app_configs=None, **kwargs):
    """Sessions, CSRF tokens, backup codes and temporary passwords are keyed with SECRET_KEY: with DEBUG
    off, an unset, built-in or short one stops the process instead of serving with it."""
    if settings.DEBUG:
        return []
    key = settings.SECRET_KEY or ""
    if key == DEVELOPMENT_SECRET_KEY or key.startswith("django-insecure"):
        problem = "SECRET_KEY is not set (the built-in development key is refused when DEBUG is off)."
    elif len(key) < SHORTEST_SECRET_KEY or len(set(key)) < 5:
        problem = (
            f"SECRET_KEY is too short or too plain: it needs {SHORTEST_SECRET_KEY} varied characters or more."
        )
    else:
        return []
    hint = (
        "Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'` and give the same "
        "one to every process of every node (see README)."
    )
    return [checks.Error(problem, hint=hint, id="portal.E003")]


@checks.register(checks.Tags.security, deploy=True)
def dkim_signing(app_configs=None, **kwargs):
    """Unsigned notifications look like the phishing this product's users are warned about."""
    if dkim.enabled():
        if not os.access(settings.DKIM_PRIVATE_KEY_FILE, os.R_OK):
            return [
                checks.Error(
                    f"DKIM_PRIVATE_KEY_FILE {settings.DKIM_PRIVATE_KEY_FILE} cannot be read by this user "
                    f"(uid {os.geteuid()}): every email would wait.",
                    hint="chgrp portal FILE && chmod 640 FILE; `manage.py dkim_key` run as root does so.",
                    id="portal.E007",
                )
            ]
        return []
    return [
        checks.Warning(
            "Emails are not DKIM-signed: recipients' mail servers cannot tell the portal's notifications "
            "from look-alikes.",
            hint="Run `manage.py dkim_key --selector portal --out /etc/portal/dkim.pem`, publish the record "
            "it prints, and set DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE.",
            id="portal.W001",
        )
    ]


@checks.register("portal_audit")
def audit_syslog_address(app_configs=None, **kwargs):
    """A mistyped AUDIT_SYSLOG would silently send the SIEM nothing: it stops the process instead."""
    if not settings.AUDIT_SYSLOG:
        return []
    try:
        audit_syslog.parse(settings.AUDIT_SYSLOG)
    except ImproperlyConfigured as problem:
        return [checks.Error(str(problem), id="portal.E004")]
    return []
