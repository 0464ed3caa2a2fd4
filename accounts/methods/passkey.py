"""Passkeys (WebAuthn): a key pair kept by the person's device, bound by the browser to this site."""

from django.utils.translation import gettext_lazy

from ..models import MethodKey
from . import register
from .base import SignInMethod


class Passkey(SignInMethod):
    key = MethodKey.PASSKEY
    service_label = gettext_lazy("Passkeys")


register(Passkey())
