"""The portal app's own forms."""

from django import forms
from django.utils.translation import gettext_lazy


class SampleIdentifyForm(forms.Form):
    """The login page's first field, as the preview shows it (the accounts app's page, without its logic)."""

    email = forms.EmailField(label=gettext_lazy("Email address"))
