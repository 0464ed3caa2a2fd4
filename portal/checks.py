"""System checks of the portal itself: no process starts in production with a key anyone can know."""

import os
import re
from email.utils import parseaddr
from urllib.parse import urlsplit

from cryptography import x509
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


PLACEHOLDER_HOSTS = {"smtp.example.com", "localhost"}  # the example's relay; Django's default


@checks.register(checks.Tags.security, deploy=True)
def mail_that_reaches_people(app_configs=None, **kwargs):
    """What makes a strict relay refuse every email, or recipients' servers distrust it, on the first day."""
    found = []
    _name, sender = parseaddr(settings.DEFAULT_FROM_EMAIL)
    from_domain = sender.rpartition("@")[2].lower() if "@" in sender else ""
    if not from_domain:
        found.append(
            checks.Error(
                f"DEFAULT_FROM_EMAIL {settings.DEFAULT_FROM_EMAIL!r} has no address with an @: a relay "
                "refuses every email from it.",
                hint='Set it as "Secure portal <portal@your-mail-domain>" (deploy/install --mail-domain).',
                id="portal.E009",
            )
        )
    if settings.EMAIL_HOST in PLACEHOLDER_HOSTS and "smtp" in settings.EMAIL_BACKEND:
        found.append(
            checks.Warning(
                f"EMAIL_HOST is {settings.EMAIL_HOST!r}: no email leaves until it names your relay.",
                hint="Set EMAIL_HOST, EMAIL_PORT and, if your relay wants them, EMAIL_HOST_USER and "
                "EMAIL_HOST_PASSWORD (docs/mail.md).",
                id="portal.W005",
            )
        )
    if dkim.enabled() and from_domain and settings.DKIM_DOMAIN.lower() != from_domain:
        found.append(
            checks.Warning(
                f"DKIM signs for {settings.DKIM_DOMAIN} but the emails come from {from_domain}: DMARC needs "
                "the two aligned, or recipients' servers may reject or junk every notification.",
                hint="Set DKIM_DOMAIN to the domain of DEFAULT_FROM_EMAIL and publish its record "
                "(manage.py dkim_key).",
                id="portal.W006",
            )
        )
    return found


@checks.register(checks.Tags.security, deploy=True)
def shared_cache_with_a_password(app_configs=None, **kwargs):
    """The shared Redis holds the sessions: anyone who can reach it unauthenticated can read them."""
    url = urlsplit(settings.CACHE_URL or "")
    if url.scheme not in {"redis", "rediss"} or url.password:
        return []
    if url.hostname in {"127.0.0.1", "localhost", "::1"}:
        return []
    return [
        checks.Warning(
            f"CACHE_URL reaches the Redis at {url.hostname} without a password: whoever can reach it reads "
            "the sessions it holds.",
            hint="Set `requirepass` in Redis and put it in CACHE_URL (redis://:PASSWORD@host:6379/0); "
            "docs/configuration.md.",
            id="portal.W007",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def certificate_people_can_trust(app_configs=None, **kwargs):
    """A self-signed certificate teaches recipients to click through browser warnings: the habit phishing
    needs. The nginx site's certificate is read where NGINX_SITE_FILE says (nothing when it is absent)."""
    try:
        with open(settings.NGINX_SITE_FILE) as handle:
            site = handle.read()
    except OSError:
        return []
    named = re.search(r"^\s*ssl_certificate\s+([^;\s]+);", site, re.MULTILINE)
    if named is None:
        return []
    try:
        with open(named.group(1), "rb") as handle:
            certificate = x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        return []
    if certificate.issuer != certificate.subject:
        return []
    return [
        checks.Warning(
            f"nginx serves a self-signed certificate ({named.group(1)}): browsers warn everyone who opens a "
            "message link, and people learn to click through the warning.",
            hint="Give nginx a certificate from a public CA (deploy/install --certificate FILE --key FILE, "
            "or certbot).",
            id="portal.W009",
        )
    ]
