"""Forms of the messaging pages: compose and reply."""

import re
from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .holding import clean_addresses


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input; none is fine."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        cleaned = [super(MultipleFileField, self).clean(f, initial) for f in files]
        if sum(f.size for f in cleaned) > settings.MAX_UPLOAD_MB * 1024 * 1024:
            raise ValidationError(
                _("The attachments are larger than the %(mb)d MB a message may hold."),
                params={"mb": settings.MAX_UPLOAD_MB},
            )
        return cleaned


class WithAttachments:
    """A form with attachments: the page's script says at once when they are too large, before sending."""

    @property
    def max_upload_bytes(self):
        return settings.MAX_UPLOAD_MB * 1024 * 1024

    @property
    def max_upload_mb(self):
        return settings.MAX_UPLOAD_MB


class ReplyForm(WithAttachments, forms.Form):
    body = forms.CharField(
        label=_("Your reply"), widget=forms.Textarea(attrs={"rows": 8}), max_length=200_000
    )
    attachments = MultipleFileField(label=_("Attachments"))


EXPIRY_CHOICES = [("1", _("1 day")), ("7", _("7 days")), ("30", _("30 days")), ("date", _("On a date"))]
LONGEST_EXPIRY_DAYS = 365


def end_of_day(day):
    """The last second of a day in the portal's time zone: 'until 30 June' includes 30 June."""
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


def clean_expiry_date(day):
    today = timezone.localdate()
    if day <= today:
        raise ValidationError(_("Choose a date after today."))
    if day > today + timedelta(days=LONGEST_EXPIRY_DAYS):
        raise ValidationError(_("Choose a date within a year."))
    return end_of_day(day)


class ComposeForm(WithAttachments, forms.Form):
    to = forms.CharField(
        label=_("To"),
        max_length=5000,
        help_text=_("One or more email addresses, separated by commas."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    subject = forms.CharField(label=_("Subject"), max_length=998)
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 12}), max_length=200_000)
    attachments = MultipleFileField(label=_("Attachments"))
    expiry = forms.ChoiceField(label=_("Available for"), choices=EXPIRY_CHOICES, widget=forms.RadioSelect)
    expiry_date = forms.DateField(
        label=_("Available until (when “On a date”)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    read_receipt = forms.BooleanField(label=_("Tell me when it is first opened"), required=False)
    allow_reply = forms.BooleanField(
        label=_("Recipients may reply (and reply to all)"), required=False, initial=True
    )
    restricted = forms.BooleanField(
        label=_("Restricted: recipients may not print it or download its attachments"), required=False
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expiry"].initial = str(user.profile().message_expiry_days)

    def clean_to(self):
        addresses = [a for a in re.split(r"[\s,;]+", self.cleaned_data["to"]) if a]
        try:
            return clean_addresses(addresses)
        except ValidationError as error:
            raise ValidationError(_("Enter valid email addresses, separated by commas.")) from error

    def clean(self):
        data = super().clean()
        if data.get("expiry") == "date":
            if not data.get("expiry_date"):
                self.add_error("expiry_date", _("Choose the date until which the message is available."))
            else:
                try:
                    data["expires_at"] = clean_expiry_date(data["expiry_date"])
                except ValidationError as error:
                    self.add_error("expiry_date", error)
        elif data.get("expiry"):
            data["expires_at"] = timezone.now() + timedelta(days=int(data["expiry"]))
        return data


class ExtendForm(forms.Form):
    """The sender moves the expiry of a message to a later date, for every recipient."""

    until = forms.DateField(label=_("Available until"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean_until(self):
        self.cleaned_data["expires_at"] = clean_expiry_date(self.cleaned_data["until"])
        return self.cleaned_data["until"]


class SearchForm(forms.Form):
    """A folder's search box and page cursors; bad values are simply ignored."""

    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    before = forms.IntegerField(required=False, min_value=1)
    after = forms.IntegerField(required=False, min_value=0)

    def values(self):
        """(query, before, after), each empty or None when missing or not valid."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return (data.get("q") or "").strip(), data.get("before"), data.get("after")


class CheckForm(forms.Form):
    code = forms.CharField(label=_("Check code from the email"), max_length=20)
