"""The organisation's look on every page and email: name, logo, colour, texts.

One Branding row, kept in Django's cache (shared by every process: the file cache of one node, or
Redis for several), so a page costs no query for it; saving the row drops the cached copy, and every
process reads the new one at its next page.
"""

import dataclasses
import hashlib
import io
import string

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from .models import Branding

# v1 held the name resolved from PORTAL_NAME; v2 the class at its old path (accounts.branding); v3 the
# pickled Look (v4: its fields).
CACHE_KEY = "portal:branding:v4"
PLACEHOLDERS = {"sender", "subject", "expires"}
LOGO_FORMATS = {"PNG", "JPEG", "WEBP"}
LOGO_MAX_BYTES = 1024 * 1024
LOGO_MAX_SIDE = 600  # pixels: larger logos are scaled down, a header needs no more


@dataclasses.dataclass(frozen=True)
class Look:
    """What pages and emails read of the branding (never the logo's bytes). It holds what the database
    holds; the server's defaults (PORTAL_NAME) are read at each use, so a restart with a new one shows."""

    organisation_name: str
    colour: str
    footer: str
    support_contact: str
    email_subject: str
    email_introduction: str
    logo_version: str = ""

    @property
    def has_logo(self):
        return bool(self.logo_version)

    @property
    def name(self):
        return self.organisation_name or settings.PORTAL_NAME


def default_look():
    return Look(
        organisation_name="",
        colour="#0b4f8a",
        footer="",
        support_contact="",
        email_subject="",
        email_introduction="",
    )


def look_of(row):
    """The Look of a Branding row (saved or not), with the server's defaults where it is empty."""
    return Look(
        organisation_name=row.name,
        colour=row.colour,
        footer=row.footer,
        support_contact=row.support_contact,
        email_subject=row.email_subject,
        email_introduction=row.email_introduction,
        logo_version=row.logo_version,
    )


def current():
    """The branding in force: from the cache, else from the database (then cached), else the defaults."""
    try:
        look = Look(**cache.get(CACHE_KEY))
    except Exception:  # none yet, or a copy this version cannot read (written by another): the database
        try:
            row = Branding.objects.defer("logo").filter(pk=1).first()
        except DatabaseError:  # an error page while the database is away still has a look
            return default_look()
        look = look_of(row) if row else default_look()
        cache.set(CACHE_KEY, dataclasses.asdict(look), None)  # plain fields: JSON in a shared Redis
    return look


@receiver(post_save, sender=Branding)
def forget(**_signal):
    """Called when the branding changes: every process reads it again."""
    cache.delete(CACHE_KEY)


def support_contact():
    return current().support_contact or settings.SUPPORT_CONTACT


def relative_luminance(colour):
    """WCAG 2 relative luminance of #rrggbb."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_with_white(colour):
    return 1.05 / (relative_luminance(colour) + 0.05)


def clean_colour(colour):
    """#rrggbb on which white text reaches WCAG AA (4.5:1), or a ValidationError that gives the ratio."""
    colour = (colour or "").strip().lower()
    if len(colour) != 7 or colour[0] != "#" or any(c not in string.hexdigits for c in colour[1:]):
        raise ValidationError(_("Enter the colour as #rrggbb, for example #0b4f8a."))
    ratio = contrast_with_white(colour)
    if ratio < 4.5:
        raise ValidationError(
            _(
                "White text on this colour has a contrast of %(ratio).2f:1; it needs at least 4.5:1 "
                "(WCAG AA). Choose a darker colour."
            )
            % {"ratio": ratio}
        )
    return colour


def clean_template(text):
    """A subject or introduction: only the placeholders {sender}, {subject} and {expires}."""
    try:
        fields = [
            (name, spec, conv)
            for _text, name, spec, conv in string.Formatter().parse(text)
            if name is not None
        ]
    except ValueError as error:
        raise ValidationError(_("Braces must come in pairs around a placeholder, as in {sender}.")) from error
    names = {name for name, _spec, _conv in fields}
    if any(spec or conv for _name, spec, conv in fields):
        raise ValidationError(_("Write placeholders plainly, as {sender}, with nothing after the name."))
    unknown = sorted(names - PLACEHOLDERS)

    if unknown:
        raise ValidationError(
            _("Unknown placeholders: %(names)s. Use {sender}, {subject} and {expires}.")
            % {"names": ", ".join("{" + n + "}" for n in unknown)}
        )
    return text


def fill(template, **values):
    """A subject or introduction with its placeholders filled (already checked when it was saved)."""
    return template.format(**values)


def clean_logo(upload):
    """A PNG, JPEG or WebP of at most 1 MB, decoded and written anew as PNG: what was uploaded is never
    served (an SVG, a polyglot or anything that is not a plain image is refused). Returns PNG bytes."""
    from PIL import Image, UnidentifiedImageError

    if upload.size > LOGO_MAX_BYTES:
        raise ValidationError(_("The logo may be at most 1 MB."))
    data = upload.read()
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in LOGO_FORMATS:
                raise ValidationError(_("The logo must be a PNG, JPEG or WebP image (never SVG)."))
            image.load()
            image = image.convert("RGBA")
            image.thumbnail((LOGO_MAX_SIDE, LOGO_MAX_SIDE))
            out = io.BytesIO()
            image.save(out, format="PNG", optimize=True)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise ValidationError(_("The logo must be a PNG, JPEG or WebP image (never SVG).")) from error
    return out.getvalue()


def logo_version(png):
    return hashlib.sha256(png).hexdigest()[:16]


def theme_css(look):
    """The stylesheet of the colour (a file of its own: the pages' CSP allows no inline styles)."""
    darker = "#" + "".join(f"{int(int(look.colour[i : i + 2], 16) * 0.78):02x}" for i in (1, 3, 5))
    return f":root {{ --brand: {look.colour}; --brand-dark: {darker}; }}\n"


def notification_wording(look, *, sender, subject, expires_at):
    """The notification's subject and introduction as the organisation wrote them, placeholders filled
    in the language now active; '' where the organisation kept the portal's own words."""

    values = {
        "sender": sender,
        "subject": subject or _("(no subject)"),
        "expires": date_format(timezone.localtime(expires_at), "DATETIME_FORMAT"),
    }
    return {
        "custom_subject": fill(look.email_subject, **values) if look.email_subject else "",
        "custom_introduction": fill(look.email_introduction, **values) if look.email_introduction else "",
    }
