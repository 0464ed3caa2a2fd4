"""Two-step authentication on django-otp: one TOTP authenticator app and ten single-use backup codes.

django-otp refuses a TOTP code used before (replay) and throttles failures per device; the
login flow adds the portal's own guessing limits around it. Backup codes are kept only as a keyed
hash (django-otp would keep them as typed): a copy of the database does not hold them.
"""

from base64 import b32encode

import segno
from django.db import transaction
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import tokens

BACKUP_CODES = 10
WRONG_CODE = gettext_lazy("That code is not right. Check that your phone's clock is correct.")
APP_NAME = "Authenticator app"
BACKUP_NAME = "Backup codes"


def is_enrolled(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def start_enrolment(user, device_id=None):
    """The unconfirmed device being enrolled (reused while the person is on the page)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, pk=device_id).first()
    if device is None:
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name=APP_NAME, confirmed=False)
    return device


def secret_text(device):
    """The secret for typing into an app by hand, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(device):
    """The otpauth:// URL as an inline SVG QR code: nothing is loaded from elsewhere."""
    return segno.make(device.config_url, error="m").svg_inline(
        scale=4, title="QR code for your authenticator app"
    )


normalise = tokens.compact


def enrolment_page(device, form):
    """What the page that sets up an app shows (the login's step, the Security page): the form for the
    first code, the QR code and the secret to type instead."""
    return {"form": form, "qr_svg": qr_svg(device), "secret": secret_text(device)}


def confirm_enrolment(device, code):
    """A right code confirms the new device, which replaces any earlier app; False otherwise."""
    with transaction.atomic():
        if not device.verify_token(normalise(code)):
            return False
        TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return True


def stored_backup_code(code):
    """What the database keeps of a backup code: an HMAC under SECRET_KEY, in django-otp's 16 characters."""
    return tokens.keyed_hash("portal.twostep.backup_code", code)[:16]


def new_backup_codes(user):
    """Ten fresh single-use codes (the old ones stop working); shown once, never again."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=BACKUP_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
        StaticToken.objects.bulk_create(
            StaticToken(device=device, token=stored_backup_code(code)) for code in codes
        )
    return codes


def backup_codes_left(user):
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def verify(user, code):
    """The device that accepts this code (an app's TOTP or a backup code), or None."""
    code = normalise(code)
    if not code:
        return None
    if len(code) == 6 and code.isdigit():
        model, token = TOTPDevice, code
    else:  # a backup code, which may be all digits too
        model, token = StaticDevice, stored_backup_code(code)
    with transaction.atomic():
        for device in model.objects.select_for_update().filter(user=user, confirmed=True):
            if device.verify_token(token):
                return device
    return None


def reset(user):
    """An administrator's reset: the person enrols again at the next login."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
