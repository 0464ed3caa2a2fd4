"""What messaging counts against abuse (accounts.throttle keeps the counts, in one locking statement):
wrong check codes typed at /check/, notifications sent again to a recipient, replies of a reader."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts import throttle


class Scope(models.TextChoices):
    CHECK = "check", _("Notification checks of a client IP address (IPv6: its /64)")
    CHECK_ALL = "check_all", _("Notification checks from everywhere")
    RESEND = "resend", _("Notifications sent again to a recipient")
    REPLY = "reply", _("Replies of a reader")


throttle.register(
    {
        Scope.CHECK: throttle.Limit("CHECKS_PER_CLIENT"),
        Scope.CHECK_ALL: throttle.Limit("CHECKS_IN_ALL", per_hour=True),
        Scope.RESEND: throttle.Limit("RESEND_PER_RECIPIENT_PER_HOUR", per_hour=True),
        Scope.REPLY: throttle.Limit("REPLIES_PER_HOUR", per_hour=True),
    },
)
