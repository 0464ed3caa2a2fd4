"""Settings, read once from the environment with safe defaults (see README: Configuration)."""

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name, default=()):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The development key is deliberately marked insecure so that `check --deploy` flags it.
SECRET_KEY = env("SECRET_KEY", "django-insecure-development-key-do-not-use-in-production")  # portal.checks

PORTAL_BASE_URL = env("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_base = urlsplit(PORTAL_BASE_URL)
# HTTPS is a property of the address people use: an https base URL turns on every secure setting.
HTTPS = _base.scheme == "https"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [_base.hostname or "127.0.0.1", "localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"]

INSTALLED_APPS = [
    "accounts.django_commands",  # before auth: its createsuperuser and changepassword are the audited ones
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal",
    "accounts",
    "messaging",
    "api",
]

MIDDLEWARE = [
    "portal.metrics.RequestMetricsMiddleware",
    "portal.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "accounts.sessions.IndexSessionsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.sessions.LastSeenMiddleware",
    "accounts.sessions.SingleLogoutFormsMiddleware",
    "portal.middleware.PortalAccessMiddleware",
    "portal.middleware.RememberLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.middleware.PasswordChangeRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.NoStoreMiddleware",
    "messaging.middleware.UnknownKeyMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "portal.context_processors.branding",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'portal.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),  # keep connections between requests
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Web requests are short queries with a LIMIT: starting parallel workers for one costs more than it
    # saves (measured: +10 ms on a mailbox search), and under load they take the cores other requests need.
    DATABASES["default"]["OPTIONS"] = {"options": "-c max_parallel_workers_per_gather=0"}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several workers write at once (the guessing limits lock rows): transactions take the write
    # lock when they begin, and wait for it, instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.methods.cloud.CloudPasswordBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"

PASSWORD_HASHERS = [
    "accounts.hashers.PortalArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# NIST SP 800-63B-4: length by factor, no composition rules (accounts/validators.py).
PASSWORD_MIN_LENGTH_SINGLE_FACTOR = env_int("PASSWORD_MIN_LENGTH_SINGLE_FACTOR", 15)
PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 8)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "name")},
    },
    {"NAME": "accounts.validators.LengthByFactorValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "accounts.validators.NotThePortalsNameValidator"},
]

# How long the half-finished login (between its steps) lives in the session.
LOGIN_STATE_SECONDS = env_int("LOGIN_STATE_SECONDS", 300)
# Guessing limits: failures within LOCKOUT_MINUTES lock an address (or a client IP) for as long.
LOCKOUT_FAILURES_PER_ADDRESS = env_int("LOCKOUT_FAILURES_PER_ADDRESS", 10)
LOCKOUT_FAILURES_PER_CLIENT = env_int("LOCKOUT_FAILURES_PER_CLIENT", 50)
LOCKOUT_MINUTES = env_int("LOCKOUT_MINUTES", 15)
# Forgotten-password emails an hour, per address and per client IP; beyond them nothing is sent.
PASSWORD_HELP_PER_ADDRESS_PER_HOUR = env_int("PASSWORD_HELP_PER_ADDRESS_PER_HOUR", 3)
PASSWORD_HELP_PER_CLIENT_PER_HOUR = env_int("PASSWORD_HELP_PER_CLIENT_PER_HOUR", 10)
# How recipients who came through a message link sign in: a password (the seeds' journeys), a code
# emailed to them ("code": no temporary password at all), or their choice ("either").
RECIPIENT_SIGN_IN = env("RECIPIENT_SIGN_IN", "password")
if RECIPIENT_SIGN_IN not in {"password", "code", "either"}:
    raise ValueError("RECIPIENT_SIGN_IN must be password, code or either")
# What one person may make the portal send: new notifications of one recipient, replies of one person.
RESEND_PER_RECIPIENT_PER_HOUR = env_int("RESEND_PER_RECIPIENT_PER_HOUR", 3)
REPLIES_PER_HOUR = env_int("REPLIES_PER_HOUR", 30)
CODES_PER_ADDRESS_PER_HOUR = env_int("CODES_PER_ADDRESS_PER_HOUR", 5)
# /metrics: only these networks, or whoever sends "Authorization: Bearer <METRICS_TOKEN>".
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
METRICS_TOKEN = env("METRICS_TOKEN")
# Wrong check codes one client may type at /check/ within LOCKOUT_MINUTES.
CHECKS_PER_CLIENT = env_int("CHECKS_PER_CLIENT", 20)
# An IPv6 client counts by its /64 (it may rotate its address within it). Wrong codes from everywhere
# together, an hour: a ceiling no spread of addresses gets past.
CHECKS_IN_ALL = env_int("CHECKS_IN_ALL", 2000)

# The networks of the reverse proxies and load balancers in front of the portal: only a connection
# from one of them has its X-Forwarded-For believed (see portal.client). None by default. `unix`: the
# proxy on this host that reaches gunicorn's unix socket (which only it and the portal may open).
TRUSTED_PROXIES = [
    n if n == "unix" else str(ipaddress.ip_network(n, strict=False)) for n in env_list("TRUSTED_PROXIES")
]
# Two-step codes: the issuer shown in authenticator apps; django-otp's throttling after failures.
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "Secure portal")
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# Session length when no authentication profile says otherwise.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)

# The organisation's language: emails to people who have not used the portal yet, and pages for
# browsers that ask for none of LANGUAGES.
LANGUAGE_CODE = env("LANGUAGE_CODE", "en")
LANGUAGES = [
    ("en", "English"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("nl", "Nederlands"),
    ("it", "Italiano"),
    ("pt", "Português"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = [
    "portal.formats"
]  # English dates as "23 November 2026", as the portal always wrote them
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Django's cache: the branding, shared by every process. A folder shared by the workers of one node;
# for several nodes, CACHE_URL names a Redis they share (redis://host:6379/0).
CACHE_URL = env("CACHE_URL")
CACHES = {
    "default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": env("CACHE_DIR", str(BASE_DIR / "cache")),
    }
}
# Sessions live in the database; with a shared Redis they are read from it first (no query a page).
# Not with the file cache: it lists its folder on every write, and other nodes would not see a logout.
SESSION_ENGINE = "portal.sessions." + ("cached_db" if CACHE_URL else "db")


STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Encrypted attachments: under MEDIA_ROOT, or, with AWS_STORAGE_BUCKET_NAME, in an S3-compatible bucket
# that every node shares (AWS S3, MinIO, Ceph); django-storages reads the AWS_* settings below.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL") or None
AWS_ACCESS_KEY_ID = env("AWS_ACCESS_KEY_ID") or None
AWS_SECRET_ACCESS_KEY = env("AWS_SECRET_ACCESS_KEY") or None
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME") or None
AWS_DEFAULT_ACL = None  # the bucket's own policy: private
AWS_S3_FILE_OVERWRITE = False  # blob names are unique; never replace one by accident
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage"
        if AWS_STORAGE_BUCKET_NAME
        else "messaging.storage.DurableFileSystemStorage"  # synced before the intake answers 250
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_MANIFEST_STRICT = False

# SAML single sign-on. Off while SAML_IDP_METADATA is unset.
SAML_IDP_METADATA = env("SAML_IDP_METADATA")  # the identity provider's metadata: a file, or an https URL
SAML_SP_ENTITY_ID = env("SAML_SP_ENTITY_ID")  # the portal's name at the IdP; default: its metadata URL
SAML_KEY_FILE = env("SAML_KEY_FILE")  # optional: the portal's key and certificate, to sign its requests
SAML_CERT_FILE = env("SAML_CERT_FILE")
SAML_EMAIL_ATTRIBUTE = env("SAML_EMAIL_ATTRIBUTE")  # the attribute with the address; default: the NameID

# OpenID Connect. Off while OIDC_ISSUER is unset. Register PORTAL_BASE_URL/oidc/callback/ as the
# redirect URI at the provider, and PORTAL_BASE_URL/login/ as where it sends people after logging out.
OIDC_ISSUER = env("OIDC_ISSUER")  # https://... (its /.well-known/openid-configuration is read)
OIDC_CLIENT_ID = env("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env("OIDC_CLIENT_SECRET")
OIDC_EMAIL_CLAIM = env("OIDC_EMAIL_CLAIM", "email")  # the claim with the address
# The claim that must be true for the address to count: Entra ID sends no email_verified; its optional
# claim xms_edov says the address's domain is the tenant's own.
OIDC_EMAIL_VERIFIED_CLAIM = env("OIDC_EMAIL_VERIFIED_CLAIM", "email_verified")

# Network passwords (LDAP). Off while LDAP_SERVER_URI is unset.
LDAP_SERVER_URI = env("LDAP_SERVER_URI")
LDAP_BIND_DN = env("LDAP_BIND_DN")
LDAP_BIND_PASSWORD = env("LDAP_BIND_PASSWORD")
LDAP_USER_BASE = env("LDAP_USER_BASE")
LDAP_USER_FILTER = env("LDAP_USER_FILTER", "(mail=%(user)s)")
LDAP_GROUP_BASE = env("LDAP_GROUP_BASE")  # where groups are searched; default: LDAP_USER_BASE
LDAP_PORTAL_GROUP = env("LDAP_PORTAL_GROUP")  # DN of the group that grants the portal permission
LDAP_START_TLS = env_bool("LDAP_START_TLS", False)
LDAP_CA_FILE = env("LDAP_CA_FILE")
LDAP_TIMEOUT = env_int("LDAP_TIMEOUT", 5)  # seconds, for connecting and for each operation
LDAP_NAME_ATTR = env("LDAP_NAME_ATTR", "cn")
LDAP_MAIL_ATTR = env("LDAP_MAIL_ATTR", "mail")

# Held messages.
PORTAL_KEKS = env_list("PORTAL_KEKS")  # key-encryption keys, "id:base64", newest first
# Or a file of them (one a line, newest first), read again whenever it changes: rotation without restarts.
PORTAL_KEKS_FILE = env("PORTAL_KEKS_FILE")
MESSAGE_EXPIRY_DAYS = env_int("MESSAGE_EXPIRY_DAYS", 30)
# Content (bodies, attachments) is purged this long after a message expired or was recalled, unless it is
# under legal hold; its envelope stays. MESSAGE_RETENTION_DAYS is the name earlier versions read.
PURGE_AFTER_DAYS = env_int("PURGE_AFTER_DAYS", env_int("MESSAGE_RETENTION_DAYS", 30))
MESSAGE_RETENTION_DAYS = PURGE_AFTER_DAYS
MEDIA_ROOT = env("MEDIA_ROOT", str(BASE_DIR / "media"))  # encrypted attachments
MAX_MESSAGE_BYTES = env_int("MAX_MESSAGE_BYTES", 50 * 1024 * 1024)
# What a person may attach in the portal (compose, reply), all files of a message together, in MiB. Files
# stream to disk and are encrypted and stored in chunks: a worker's memory does not grow with them.
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 2048)
# Subject tags by which mail is routed to the portal; removed from the subject recipients see.
SUBJECT_TAGS = env_list("SUBJECT_TAGS", ["[secure]", "[encrypt]"])
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads stream to a temporary file
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
NOTIFICATION_RETRY_SECONDS = env_int("NOTIFICATION_RETRY_SECONDS", 30)  # doubles each attempt
INTAKE_ALLOWED_CLIENTS = env_list("INTAKE_ALLOWED_CLIENTS", ["127.0.0.1/32", "::1/128"])
INTAKE_AUTH_USER = env("INTAKE_AUTH_USER")
INTAKE_AUTH_PASSWORD = env("INTAKE_AUTH_PASSWORD")
# STARTTLS for the intake (PEM files, read again when they change); AUTH is then offered only after TLS.
# INTAKE_REQUIRE_TLS=1: a MAIL command sent without TLS is answered 530 5.7.0.
INTAKE_TLS_CERT_FILE = env("INTAKE_TLS_CERT_FILE")
INTAKE_TLS_KEY_FILE = env("INTAKE_TLS_KEY_FILE")
INTAKE_REQUIRE_TLS = env_bool("INTAKE_REQUIRE_TLS", False)

# Mail: Django's SMTP settings; the demo prints emails to the console.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Secure portal <portal@localhost>")

# DKIM: every email is signed when the three are set (`manage.py dkim_key` makes a key and the DNS record).
DKIM_DOMAIN = env("DKIM_DOMAIN")
DKIM_SELECTOR = env("DKIM_SELECTOR")
DKIM_PRIVATE_KEY_FILE = env("DKIM_PRIVATE_KEY_FILE")

# The organisation's name until the administrator brands the portal in the admin.
PORTAL_NAME = env("PORTAL_NAME", "Secure portal")
# Whom staff contact when they cannot log in (a profile may name its own), e.g.

# "IT service desk, help@corp.example, +44 20 7946 0000". Empty: "your administrator".
SUPPORT_CONTACT = env("SUPPORT_CONTACT")

# The browser matrix: /browsers/ and the login pages' notice. `families` are ua-parser's names;
# `systems` narrows a row to operating systems (as troubleshooting.Browser names them).
SUPPORTED_BROWSERS = [
    {"name": "Google Chrome", "minimum": 120, "families": ["Chrome", "HeadlessChrome", "Chromium"]},
    {"name": "Microsoft Edge", "minimum": 120, "families": ["Edge"]},
    {"name": "Mozilla Firefox", "minimum": 115, "families": ["Firefox"]},
    {"name": "Safari on macOS", "minimum": 16, "families": ["Safari"], "systems": ["macOS"]},
    {"name": "Safari on iPhone and iPad", "minimum": 16, "families": ["Mobile Safari"], "systems": ["iOS"]},
    {"name": "Samsung Internet", "minimum": 23, "families": ["Samsung Internet"]},
    {"name": "Chrome on Android", "minimum": 120, "families": ["Chrome Mobile"], "systems": ["Android"]},
]

# Malware scanning: clamd at unix:///run/clamav/clamd.ctl or tcp://host:3310 (messaging.scanning). Unset: no
# scanning (`check --deploy` warns). CLAMD_TIMEOUT: seconds to connect and for each answer.
CLAMD_ADDRESS = env("CLAMD_ADDRESS")
CLAMD_TIMEOUT = env_int("CLAMD_TIMEOUT", 30)
# Where clamd's own configuration is, for `check --deploy` to compare its limits with MAX_UPLOAD_MB.
CLAMD_CONFIG_FILE = env("CLAMD_CONFIG_FILE", "/etc/clamav/clamd.conf")
# Mail already accepted with a file past clamd's limits: `quarantine` (held for the administrators to
# review) or `refuse` (its content deleted at once, the envelope kept). Uploads and the API are refused.
SCAN_TOO_LARGE = env("SCAN_TOO_LARGE", "quarantine")
# The nginx site in front, for `check --deploy` to look at its certificate (a self-signed one warns).
NGINX_SITE_FILE = env("NGINX_SITE_FILE", "/etc/nginx/sites-available/portal.conf")

# The REST API (api/): requests a minute per key; webhooks to private addresses (and over http://) only
# when allowed (a test or an internal receiver).
API_RATE = env_int("API_RATE", 600)
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
# Seconds for one webhook attempt as a whole (connecting, sending, the answer however slowly it comes).
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", 10)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PerKeyThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.handle",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Secure portal API",
    "DESCRIPTION": "Send secure messages and follow them; pull the audit trail. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RecipientStatus": "api.serializers.RECIPIENT_STATES",
        "MessageStatus": "api.serializers.MESSAGE_STATES",
    },
}

# The audit trail, also as it happens, to the organisation's SIEM: udp://host:port or tcp://host:port
# (RFC 5424 syslog, the event's JSON as the message). Unset: only the database and `audit_export`.
AUDIT_SYSLOG = env("AUDIT_SYSLOG")

# Security headers and cookies. Browsers get no framing, no sniffing, and only our own origin.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = HTTPS and env_bool("SECURE_HSTS_PRELOAD", True)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s request_id=%(request_id)s"},
        "json": {"()": "portal.logging.JsonFormatter"},
    },
    "filters": {
        "redact_link_tokens": {"()": "portal.logging.RedactLinkTokens"},
        "request_id": {"()": "portal.logging.AddRequestId"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if env("LOG_FORMAT", "text") == "json" else "text",
            "filters": ["redact_link_tokens", "request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "INFO" if DEBUG else "WARNING"},
        "mail.log": {"level": "WARNING"},  # aiosmtpd's per-connection chatter
        "saml2": {"level": "WARNING"},  # pysaml2 logs whole assertions at lower levels
        "xmlschema": {"level": "WARNING"},  # pysaml2's schema loader, chatty at import
    },
}
