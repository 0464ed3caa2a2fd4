"""What a person sees when a login fails: the same words for every reason, and whom to ask."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from ..models import AuthProfile
from ..troubleshooting import describe_browser

# The exact words of the troubleshooting articles, in English; other languages carry their translation.
GENERIC_FAILURE = gettext_noop(
    "Invalid username, password or permissions. Please check you are using the correct URL."
)


def generic_failure_message():
    return _(GENERIC_FAILURE)


def outage_message():
    return _(
        "Signing in with this method is temporarily unavailable because of a problem on our "
        "side. Please try again in a few minutes."
    )


def failure_context(attempt, outage, sender=""):
    """What the person sees and passes on to support; the same for every reason."""
    return {
        "message": outage_message() if outage else generic_failure_message(),
        "reference": attempt.reference,
        "url": attempt.url,
        "email": attempt.email_entered,
        "at": timezone.localtime(attempt.at),
        "browser": describe_browser(attempt.user_agent),
        **whom_to_contact(attempt.email_entered, sender),
    }


class Contact(models.TextChoices):
    """Whom the failure page tells the person to contact."""

    SENDER = "sender", gettext_lazy("The sender of the message")
    STAFF = "staff", gettext_lazy("The administrator")
    EITHER = "either", gettext_lazy("The administrator or the sender")


def whom_to_contact(address, sender):
    """Who helps: the sender, for a message link; the administrator, for an address of the organisation's
    own domains; else both rules. Decided by the domain, never by an account, so it tells nobody who
    has one."""
    if sender:
        return {"contact": Contact.SENDER, "contacts": Contact, "sender": sender}
    profile = AuthProfile.objects.for_address(address)
    return {
        "contact": Contact.STAFF if profile.names_domain_of(address) else Contact.EITHER,
        "contacts": Contact,
        "administrator": profile.contact(),
    }
