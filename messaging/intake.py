"""SMTP intake: the organisation's mail server hands outbound secure mail here, and it is held.

250 is answered only once the message is committed to the spool (messaging.spool, one durable INSERT);
any failure on our side answers 451 so the sending server keeps the message and retries. The spooled
mail is held when the sending server says QUIT, or by the worker: nothing is lost, nothing is half-held.
"""

import email
import email.errors
import email.header
import email.policy
import email.utils
import io
import logging
import mimetypes
import os
import re
import ssl
from datetime import date, timedelta

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import close_old_connections, connections
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import User, normalize_address
from portal.client import address_in
from portal.metrics import INTAKE_ANSWERS, INTAKE_SIZES

from . import spool
from .forms import LONGEST_EXPIRY_DAYS, clean_expiry_date
from .holding import IncomingAttachment, hold
from .models import Message

log = logging.getLogger("portal.intake")


class ParsedMail:
    """What the portal keeps of a MIME message: subject, text, HTML, attachments."""

    def __init__(self):
        self.subject, self.text, self.html = "", "", ""
        self.attachments = []
        self.headers = {}
        self.shown_recipients = []
        self.damaged = False


# The message is parsed with the legacy policy, which reads headers as text (about four times faster
# than the modern one, which parses every header each time it is read); the few headers shown to people
# are then decoded as the modern policy would (RFC 2047 words, address lists).
_MODERN = email.policy.default


def _decoded(name, value):
    return str(_MODERN.header_fetch_parse(name, value))


def as_written(value):
    """A header as its sender wrote it. Raw 8-bit bytes (RFC 6532: Postfix and many mail programs pass
    UTF-8 headers as they are) reach us as surrogate escapes: they are read as UTF-8, or as Latin-1 when
    they are not UTF-8, and never turned into replacement characters."""
    value = str(value)
    if value.isascii():
        return value
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class _AsWritten(email.policy.Compat32):
    """The legacy policy, but a header of raw 8-bit bytes is read as written (`as_written`), where the
    legacy policy would have made each byte a replacement character."""

    def header_fetch_parse(self, name, value):
        if isinstance(value, str) and not value.isascii():
            return as_written(value)
        return super().header_fetch_parse(name, value)


AS_WRITTEN = _AsWritten()


def _part_text(part):
    payload = part.get_payload(decode=True) or b""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")


def _filename(part, index):
    name = part.get_filename()
    if name:
        try:
            name = str(email.header.make_header(email.header.decode_header(name)))
        except (ValueError, LookupError, email.errors.HeaderParseError):
            pass  # keep it as written
        return name.replace("/", "_").replace("\\", "_").strip() or f"attachment-{index}"
    extension = mimetypes.guess_extension(part.get_content_type()) or ".bin"
    return f"attachment-{index}{extension}"


def _shown_recipients(message):
    """The To and Cc addresses, checked and without repeats: what every recipient may see."""
    try:
        values = [_decoded(name, str(value)) for name in ("To", "Cc") for value in message.get_all(name, [])]
    except (ValueError, IndexError, AttributeError):  # a header too damaged to read: show none
        return []
    shown = []
    for _name, address in email.utils.getaddresses(values):
        address = normalize_address(address)
        try:
            validate_email(address)
        except ValidationError:
            continue
        if address not in shown:
            shown.append(address)
    return shown


# The sender's options, set by the organisation's mail server or mail client (see README).
SENDER_HEADERS = (
    "X-Portal-Kind",
    "X-Portal-Read-Receipt",
    "Disposition-Notification-To",
    "X-Portal-Expires-Days",
    "X-Portal-Expires",
    "X-Portal-Restricted",
    "X-Portal-Allow-Reply",
)
YES = {"1", "yes", "true", "on"}


def strip_subject_tags(subject):
    """'[secure] Budget' is held as 'Budget': the tag routed the mail here; the recipient need not see it."""
    for tag in settings.SUBJECT_TAGS:
        subject = re.sub(re.escape(tag), "", subject, flags=re.IGNORECASE)
    return " ".join(subject.split())


def sender_options(headers):
    """hold()'s options from the X-Portal-* headers; a value that cannot be read keeps the default."""
    options = {
        "kind": Message.Kind.CCM if headers["X-Portal-Kind"].lower() == "ccm" else Message.Kind.SECURE,
        "read_receipt": headers["X-Portal-Read-Receipt"].lower() in YES
        or bool(headers["Disposition-Notification-To"]),
        "restricted": headers["X-Portal-Restricted"].strip().lower() in YES,
    }
    if headers["X-Portal-Allow-Reply"].strip().lower() in {"0", "no", "false", "off"}:
        options["allow_reply"] = False
    days = headers["X-Portal-Expires-Days"].strip()
    # At most three digits are read: Python refuses to convert thousands of them, and a year is 365.
    if days.isdigit() and len(days) <= 3 and 1 <= int(days) <= LONGEST_EXPIRY_DAYS:
        options["expires_at"] = timezone.now() + timedelta(days=int(days))
    else:
        try:
            options["expires_at"] = clean_expiry_date(date.fromisoformat(headers["X-Portal-Expires"].strip()))
        except (ValueError, ValidationError):  # no date, not one, in the past or too far: the default
            pass
    return options


def parse_mail(raw):
    """Read what can be read; a damaged message also keeps its raw original as an attachment."""
    parsed = ParsedMail()
    try:
        message = email.message_from_bytes(raw, policy=AS_WRITTEN)
        subject = str(message.get("Subject", "") or "")
        try:
            parsed.subject = _decoded("Subject", subject)
        except (ValueError, IndexError, AttributeError):
            parsed.subject = subject
            parsed.damaged = True

        for name in SENDER_HEADERS:
            parsed.headers[name] = str(message.get(name, "") or "")
        parsed.shown_recipients = _shown_recipients(message)
        parsed.damaged |= bool(message.defects)
        for index, part in enumerate(message.walk(), start=1):
            if part.is_multipart():
                parsed.damaged |= bool(part.defects)
                continue
            parsed.damaged |= bool(part.defects)
            content_type = part.get_content_type()
            is_attachment = part.get_content_disposition() == "attachment" or part.get_filename()
            if content_type == "text/plain" and not is_attachment and not parsed.text:
                parsed.text = _part_text(part)
            elif content_type == "text/html" and not is_attachment and not parsed.html:
                parsed.html = _part_text(part)
            else:
                payload = part.get_payload(decode=True) or b""
                parsed.attachments.append(
                    IncomingAttachment(
                        _filename(part, index),
                        content_type,
                        io.BytesIO(payload),
                        str(part.get("Content-ID", "") or "").strip("<> "),
                    )
                )
    except Exception:  # the parser gave up: keep the original whole
        log.warning("event=intake_unreadable_mime")
        parsed.damaged = True
    if parsed.damaged:
        parsed.attachments.append(
            IncomingAttachment("original-message.eml", "message/rfc822", io.BytesIO(raw))
        )
    return parsed


def hold_mail(mail_from, rcpt_tos, raw, public_id=None):
    """Parse and hold one message as received over SMTP (from the spool, or directly)."""
    return _hold_parsed(mail_from, rcpt_tos, raw, public_id)


def accept_mail(mail_from, rcpt_tos, raw, peer=""):
    """Commit one message to the spool before the 250; the one place the intake writes while the
    sending server waits.

    The connection is kept from one message to the next (opening one costs more than the INSERT); it is
    checked before each reuse (CONN_HEALTH_CHECKS) and dropped after any failure, so a database that
    went away and came back is reached again.
    """
    close_old_connections()
    _commit_durably()
    return spool.spool(mail_from, rcpt_tos, raw, peer)


def hold_session(spooled):
    """At QUIT: hold what this session spooled, unless the worker has already."""
    close_old_connections()
    for pk in spooled:
        spool.hold_spooled(pk, hold_mail)


def _commit_durably():
    """The 250 promises the message survives a power cut. SQLite in WAL mode with synchronous=NORMAL
    (the web's setting) syncs only at checkpoints; FULL syncs each commit (about 0.4 ms here).
    PostgreSQL syncs each commit by default."""
    connection = connections["default"]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=FULL")


def _hold_parsed(mail_from, rcpt_tos, raw, public_id=None):
    parsed = parse_mail(raw)
    sender = normalize_address(mail_from)
    sender_user = User.objects.filter(email=sender, kind=User.Kind.INTERNAL).first()
    return hold(
        sender=sender,
        sender_user=sender_user,
        recipients=rcpt_tos,
        subject=strip_subject_tags(parsed.subject),
        text=parsed.text,
        html=parsed.html,
        attachments=parsed.attachments,
        shown_recipients=parsed.shown_recipients,
        source=Message.Source.SMTP,
        public_id=public_id,
        **sender_options(parsed.headers),
    )


class IntakeHandler:
    """aiosmtpd handler: checks the client, holds each message, answers honestly."""

    def __init__(self, allowed_clients=None):
        self.allowed_clients = allowed_clients or settings.INTAKE_ALLOWED_CLIENTS

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if not address_in(session.peer[0], self.allowed_clients):
            log.warning("event=intake_refused reason=client_not_allowed")
            return "550 5.7.1 This client may not submit messages here"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        answer = await self._accept(session, envelope)
        INTAKE_ANSWERS.labels(answer[:3]).inc()
        if answer.startswith("250"):
            INTAKE_SIZES.observe(len(envelope.content))
        return answer

    async def _accept(self, session, envelope):
        try:
            spooled = await sync_to_async(accept_mail, thread_sensitive=True)(
                envelope.mail_from, envelope.rcpt_tos, envelope.content, session.peer[0]
            )
        except ValidationError:
            return "553 5.1.3 A recipient address is not valid"
        except Exception:
            await sync_to_async(_discard_connections, thread_sensitive=True)()
            log.exception("event=intake_deferred")
            return "451 4.3.0 Temporary failure on our side, please try again later"
        session.spooled = [*getattr(session, "spooled", []), spooled.pk]
        log.info("event=intake_spooled message=%s", spooled.public_id)
        return f"250 2.0.0 Held as {spooled.public_id}"


class IntakeSMTP(SMTP):
    """aiosmtpd's SMTP session, which holds what it spooled when the sending server says QUIT (the
    worker holds what a session that ended otherwise left)."""

    async def smtp_MAIL(self, arg):
        """TLS first, before AUTH is looked at: a client that skipped STARTTLS is told so, not that
        authentication is required (which it could not even be offered in clear)."""
        if settings.INTAKE_REQUIRE_TLS and self.session.ssl is None:
            log.warning("event=intake_refused reason=tls_required")
            await self.push("530 5.7.0 Must issue a STARTTLS command first")
            return
        await super().smtp_MAIL(arg)

    async def smtp_QUIT(self, arg):
        spooled = getattr(self.session, "spooled", None)
        if spooled and not arg:
            self.session.spooled = []
            try:
                await sync_to_async(hold_session, thread_sensitive=True)(spooled)
            except Exception:  # the worker tries again
                log.exception("event=intake_hold_deferred")
        await super().smtp_QUIT(arg)


def _discard_connections():
    for connection in connections.all(initialized_only=True):
        connection.close()


def authenticator():
    """SMTP AUTH against INTAKE_AUTH_USER/PASSWORD, when they are set."""
    user, password = settings.INTAKE_AUTH_USER, settings.INTAKE_AUTH_PASSWORD

    def check(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = constant_time_compare(auth_data.login.decode(), user) and constant_time_compare(
            auth_data.password.decode(), password
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 235 or 535

    return check if user and password else None


_tls = {"stamp": None, "context": None}


def tls_context():
    """The STARTTLS context of INTAKE_TLS_CERT_FILE and _KEY_FILE, made again when either file changes
    (a renewed certificate is used from the next connection on, without a restart); None without them."""
    cert, key = settings.INTAKE_TLS_CERT_FILE, settings.INTAKE_TLS_KEY_FILE
    if not (cert and key):
        return None
    stamp = (cert, key, os.stat(cert).st_mtime_ns, os.stat(key).st_mtime_ns)
    if _tls["stamp"] != stamp:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        _tls.update(stamp=stamp, context=context)
        log.info("event=intake_tls_loaded cert=%s", cert)
    return _tls["context"]


class IntakeController(Controller):
    """aiosmtpd's Controller, with the TLS context looked at again for each connection."""

    def factory(self):
        context = tls_context()
        if context is not None:
            self.SMTP_kwargs["tls_context"] = context
        return IntakeSMTP(self.handler, **self.SMTP_kwargs)


def controller(host, port, **overrides):
    """An aiosmtpd Controller running the intake (call .start() and .stop())."""
    auth = authenticator()
    options = {
        "data_size_limit": settings.MAX_MESSAGE_BYTES,
        "enable_SMTPUTF8": True,
        "decode_data": False,
    }
    with_tls = tls_context() is not None
    if with_tls:
        options["tls_context"] = tls_context()
    if auth is not None:
        # Over TLS only when the intake has a certificate: the password never crosses in clear then.
        options.update(authenticator=auth, auth_required=True, auth_require_tls=with_tls)
    options.update(overrides)
    return IntakeController(IntakeHandler(), hostname=host, port=port, **options)
