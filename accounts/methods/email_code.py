"""One-time codes by email, for recipients who came through a message link."""

from django.utils.translation import gettext_lazy

from ..models import MethodKey
from . import register
from .base import SignInMethod


class EmailCode(SignInMethod):
    key = MethodKey.EMAIL_CODE
    service_label = gettext_lazy("Codes by email")


register(EmailCode())
