"""Keys and webhooks in the admin: a key or a signing secret is shown once, when it is made."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts import actions as account_actions
from portal.admin import AuditLogAdmin
from portal.client import Client

from . import keys, webhooks
from .models import ApiKey, Scope, WebhookAttempt, WebhookDelivery, WebhookEndpoint


class ApiKeyForm(forms.ModelForm):
    scope_choices = forms.MultipleChoiceField(
        label=_("scopes"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiKey
        fields = ["name", "account", "expires_at", "allowed_networks"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "account",
        "prefix",
        "scopes",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "last_used_ip",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "account__email", "prefix"]
    raw_id_fields = ["account"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "account", "scope_choices", "expires_at", "allowed_networks"]
        return ["name", "account", "prefix", "scopes", "allowed_networks", "expires_at", "created_at",
                "created_by", "revoked_at", "last_used_at", "last_used_ip"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            row, key = keys.make(
                request.user, Client.of(request), name=data["name"], account=data["account"],
                scopes=data["scope_choices"], expires_at=data.get("expires_at"),
                allowed_networks=data.get("allowed_networks") or "",
            )  # fmt: skip
        except (account_actions.Refused, ValueError) as refusal:
            raise ValidationError(str(refusal)) from None
        obj.pk, obj._state = row.pk, row._state
        obj.__dict__.update(row.__dict__)
        messages.warning(
            request,
            _("The key, shown this once (keep it in your system's secret store): %(key)s") % {"key": key},
        )

    @admin.action(description=_("Revoke the keys"), permissions=["change"])
    def revoke(self, request, queryset):
        for row in queryset.filter(revoked_at__isnull=True):
            keys.revoke(request.user, Client.of(request), row)
        self.message_user(request, _("Revoked."), messages.SUCCESS)


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"), choices=[(t, t) for t in webhooks.TYPES], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "enabled"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        webhooks.check_url(url)  # its ValidationError says why the address is refused
        return url


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ["at", "status", "error", "milliseconds"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "description", "enabled", "failing_since", "disabled_reason"]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]

    def has_add_permission(self, request):
        return request.user.is_superuser and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        webhooks.delete_endpoint(request.user, Client.of(request), obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            webhooks.delete_endpoint(request.user, Client.of(request), endpoint)

    def save_model(self, request, obj, form, change):
        secret = webhooks.save_endpoint(request.user, Client.of(request), obj)
        if secret:
            messages.warning(
                request,
                _("The signing secret, shown this once (give it to the receiver): %(secret)s")
                % {"secret": secret},
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AuditLogAdmin):
    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "attempts",
        "last_status",
        "delivered_at",
        "failed_at",
    ]
    list_filter = [
        "event_type",
        ("delivered_at", admin.EmptyFieldListFilter),
        ("failed_at", admin.EmptyFieldListFilter),
    ]
    readonly_fields = ["endpoint", "event_type", "webhook_id", "payload", "created_at", "next_attempt_at",
                       "attempts", "delivered_at", "failed_at", "last_status", "last_error"]  # fmt: skip
    inlines = [AttemptInline]
    actions = ["resend"]

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("api.change_webhookdelivery") and obj is None

    @admin.action(description=_("Resend"), permissions=["change"])
    def resend(self, request, queryset):
        try:
            for delivery in queryset:
                webhooks.resend(request.user, Client.of(request), delivery)
        except account_actions.Refused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return
        self.message_user(request, _("The worker sends them again at its next round."), messages.SUCCESS)
