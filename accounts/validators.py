"""Passwords as NIST SP 800-63B-4 (2025) says: long rather than complicated. A password that is the only
factor needs PASSWORD_MIN_LENGTH_SINGLE_FACTOR (15) characters, one with a second factor (an authenticator
app, a passkey) PASSWORD_MIN_LENGTH (8); no composition rules, any characters, up to 256; refused when
common (Django's list), like the address or the name, or containing the portal's own name. Existing
passwords keep working: the rule applies when one is chosen."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from portal import branding

from . import twostep

LONGEST = 256


def has_second_factor(user):
    """An authenticator app or a passkey, or staff whose profile will make them set one up."""
    if user is None or user.pk is None:
        return False
    if twostep.is_enrolled(user) or user.passkeys.exists():
        return True
    return not user.is_external and user.profile().require_two_step


def minimum_length(user=None):
    if has_second_factor(user):
        return settings.PASSWORD_MIN_LENGTH
    return settings.PASSWORD_MIN_LENGTH_SINGLE_FACTOR


def rule(user=None):
    """The rule in words, shown on the form before the person types."""
    least = minimum_length(user)
    return _(
        "At least %(least)d characters; a few words you will remember are easiest. Spaces and any "
        "characters are fine, and there is no rule about digits or symbols. Not a common password, nor one "
        "like your address or this portal's name."
    ) % {"least": least}


class LengthByFactorValidator:
    """NIST's length: 15 for a single factor, 8 with a second; at most 256."""

    def validate(self, password, user=None):
        least = minimum_length(user)
        if len(password) < least:
            raise ValidationError(
                ngettext(
                    "This password is too short. It must contain at least %(least)d character.",
                    "This password is too short. It must contain at least %(least)d characters.",
                    least,
                )
                % {"least": least},
                code="password_too_short",
            )
        if len(password) > LONGEST:
            raise ValidationError(
                _("This password is longer than %(most)d characters.") % {"most": LONGEST},
                code="password_too_long",
            )

    def get_help_text(self):
        return rule()


class NotThePortalsNameValidator:
    """A password made of the portal's own name is the first a guesser tries."""

    def validate(self, password, user=None):
        typed = password.casefold()
        names = {branding.current().name, settings.PORTAL_NAME}
        if user is not None and getattr(user, "email", ""):
            # The whole address. Its parts ("client", "recipient") are often words a long passphrase
            # may hold; Django's similarity validator refuses a password that is mostly one of them.
            names.add(user.email)
        for name in names:
            if name and len(name) >= 4 and name.casefold() in typed:
                raise ValidationError(
                    _("This password contains this portal's name or your address."),
                    code="password_too_similar",
                )

    def get_help_text(self):
        return _("Your password must not contain this portal's name or your address.")
