"""Forms of the messaging pages: compose and reply."""

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
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
        if sum(f.size for f in cleaned) > settings.MAX_MESSAGE_BYTES:
            raise ValidationError(
                _("The attachments are larger than the %(mb)d MB a message may hold."),
                params={"mb": settings.MAX_MESSAGE_BYTES // (1024 * 1024)},
            )
        return cleaned


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your reply"), widget=forms.Textarea(attrs={"rows": 8}), max_length=200_000
    )
    attachments = MultipleFileField(label=_("Attachments"))


class ComposeForm(forms.Form):
    to = forms.CharField(
        label=_("To"),
        max_length=5000,
        help_text=_("One or more email addresses, separated by commas."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    subject = forms.CharField(label=_("Subject"), max_length=998)
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 12}), max_length=200_000)
    attachments = MultipleFileField(label=_("Attachments"))
    expires_in_days = forms.IntegerField(
        label=_("Available for (days)"), min_value=1, max_value=365, initial=settings.MESSAGE_EXPIRY_DAYS
    )
    read_receipt = forms.BooleanField(label=_("Tell me when it is first opened"), required=False)
    allow_reply = forms.BooleanField(label=_("Recipients may reply"), required=False, initial=True)

    def clean_to(self):
        addresses = [a for a in re.split(r"[\s,;]+", self.cleaned_data["to"]) if a]
        try:
            return clean_addresses(addresses)
        except ValidationError as error:
            raise ValidationError(_("Enter valid email addresses, separated by commas.")) from error
