"""What both apps share and the portal keeps: the organisation's branding."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Branding(models.Model):
    """The organisation's own look: one row, edited in the admin (see portal.branding)."""

    name = models.CharField(
        _("organisation name"), max_length=100, blank=True, help_text=_("Empty: the server's PORTAL_NAME.")
    )
    logo = models.BinaryField(_("logo (PNG, as stored)"), blank=True, editable=False)
    logo_version = models.CharField(_("logo version"), max_length=16, blank=True, editable=False)
    colour = models.CharField(
        _("primary colour"),
        max_length=7,
        default="#0b4f8a",
        help_text=_("As #rrggbb. White text on it must reach the WCAG AA contrast of 4.5:1."),
    )
    footer = models.TextField(
        _("footer and disclaimer"),
        blank=True,
        help_text=_("Shown at the foot of every page and email. Empty: the portal's own words."),
    )
    support_contact = models.CharField(
        _("support contact"),
        max_length=200,
        blank=True,
        help_text=_("Whom staff contact when they cannot log in. Empty: the server's SUPPORT_CONTACT."),
    )
    email_subject = models.CharField(
        _("notification subject"),
        max_length=200,
        blank=True,
        help_text=_("Placeholders: {sender}, {subject}, {expires}. Empty: the portal's own words."),
    )
    email_introduction = models.TextField(
        _("notification introduction"),
        blank=True,
        help_text=_("The first paragraph of the notification. Placeholders: {sender}, {subject}, {expires}."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        db_table = "accounts_branding"  # it was the accounts app's; the table stayed where it was
        verbose_name = _("branding")
        verbose_name_plural = _("branding")

    def __str__(self):
        return str(_("Branding"))

    def save(self, *args, **kwargs):
        from . import branding

        self.pk = 1  # there is one look
        super().save(*args, **kwargs)
        branding.forget()
