"""Forms of the login steps and of the password pages."""

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import passwords, throttle, validators
from .models import normalize_address


class IdentifyForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )

    def clean_email(self):
        return normalize_address(self.cleaned_data["email"])


class PasswordForm(forms.Form):
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )


class ForcedPasswordChangeForm(SetPasswordForm):
    """The new password after a temporary one: Django's validators, and not the old password."""

    def __init__(self, user, *args, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.fields["new_password1"].label = _("New password")
        self.fields["new_password1"].help_text = validators.rule(user)  # the rule before one types
        self.fields["new_password2"].label = _("Confirm new password")
        self.fields["new_password1"].widget.attrs["autofocus"] = True

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("new_password2")
        if password and passwords.check(self.user, password):
            self.add_error("new_password2", _("Choose a new password: it must differ from your current one."))
        return cleaned


class PortalPasswordChangeForm(PasswordChangeForm, ForcedPasswordChangeForm):
    """A signed-in person changes their password: the current one first, then the new one twice."""

    field_order = ["old_password", "new_password1", "new_password2"]

    def __init__(self, user, *args, client_ip="", **kwargs):
        super().__init__(user, *args, **kwargs)
        self.client_ip = client_ip
        self.fields["old_password"].label = _("Current password")
        self.fields["old_password"].widget.attrs["autofocus"] = True
        self.fields["new_password1"].widget.attrs.pop("autofocus", None)

    def clean_old_password(self):
        """The current password is a guess like any login's: counted and locked by the same limits."""
        typed = self.cleaned_data["old_password"]
        locked = ValidationError(
            _("Too many wrong passwords. Please try again in %(minutes)d minutes.")
            % {"minutes": settings.LOCKOUT_MINUTES},
            code="locked_out",
        )
        with throttle.guess(self.user.email, self.client_ip, self.user, locked=locked) as attempt:
            attempt.right(self.user.check_password(typed))
        if attempt.counts:
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return typed

    def save(self, commit=True):
        raise NotImplementedError("accounts.actions.change_own_password changes it (checked and recorded)")


class ForgotPasswordForm(IdentifyForm):
    """The same one field as the first login step: the address."""


class VerificationCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Verification code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "text",
                "autofocus": True,
                "spellcheck": "false",
            }
        ),
    )


class ConfirmPasswordForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class PasskeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    credential = forms.CharField(max_length=20000)
