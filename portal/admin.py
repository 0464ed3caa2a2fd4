"""The portal's own admin pages (the branding) and the pieces both apps' admins share."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from . import audit, branding
from .client import Client
from .models import AuditEvent, Branding
from .views import branding_preview


def confirm_action(modeladmin, request, queryset, action, title, form=None):
    """An intermediate page, as Django's delete action has: nothing happens until confirmed."""
    return TemplateResponse(
        request,
        "admin/portal/confirm_action.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "objects": queryset,
            "action": action,
            "form": form,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )


class AuditLogAdmin(admin.ModelAdmin):
    """A record nobody edits: administrators read it, nobody adds, changes or deletes a row."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ActionsOnlyAdmin(admin.ModelAdmin):
    """Rows that are read, and changed only through the list's actions (each a checked, audited action):
    nobody adds, edits or deletes one in a form."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The change page is read-only; the list needs the permission for its actions.
        return super().has_change_permission(request, obj) and obj is None


class BrandingForm(forms.ModelForm):
    upload = forms.FileField(
        label=_("Logo"),
        required=False,
        help_text=_("PNG, JPEG or WebP, at most 1 MB. It is re-encoded; SVG is refused."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    remove_logo = forms.BooleanField(label=_("Remove the logo"), required=False)

    class Meta:
        model = Branding
        fields = ["name", "colour", "footer", "support_contact", "email_subject", "email_introduction"]

    def clean_colour(self):
        return branding.clean_colour(self.cleaned_data["colour"])

    def clean_email_subject(self):
        return branding.clean_template(self.cleaned_data["email_subject"])

    def clean_email_introduction(self):
        return branding.clean_template(self.cleaned_data["email_introduction"])

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        return branding.clean_logo(upload) if upload else None

    def apply_logo(self, row):
        """The re-encoded upload (or its removal) onto the row; not saved."""
        if self.cleaned_data.get("remove_logo"):
            row.logo, row.logo_version = b"", ""
        elif self.cleaned_data.get("upload"):
            row.logo = self.cleaned_data["upload"]
            row.logo_version = branding.logo_version(row.logo)


@admin.register(Branding)
class BrandingAdmin(admin.ModelAdmin):
    """One page: the organisation's look, with a preview of the login page and the notification email."""

    form = BrandingForm
    change_form_template = "admin/portal/branding/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        Branding.objects.get_or_create(pk=1)
        return redirect("admin:portal_branding_change", 1)

    def save_model(self, request, obj, form, change):
        """The look every recipient trusts (name, logo, email texts): saved and recorded together."""
        form.apply_logo(obj)
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit.record(
                audit.Event.BRANDING_CHANGED, actor=request.user, client=Client.of(request),
                changed=sorted(form.changed_data) or None,
            )  # fmt: skip

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_preview" in request.POST:
            return self.preview(request, object_id)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def preview(self, request, object_id):
        """The login page and the notification email with the values typed, nothing saved."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        row = Branding.objects.filter(pk=object_id).first() or Branding(pk=1)
        form = self.get_form(request, row)(request.POST, request.FILES, instance=row)
        if not form.is_valid():
            return super().changeform_view(request, object_id)  # the same form, with its errors
        unsaved = form.save(commit=False)
        form.apply_logo(unsaved)
        return branding_preview(request, unsaved)


@admin.register(AuditEvent)
class AuditEventAdmin(AuditLogAdmin):
    """The trail: who did what to which account or message, from where. Nobody edits or deletes it."""

    list_display = ["at", "event", "actor_name", "subject_name", "message", "ip", "summary"]
    list_filter = ["event"]
    search_fields = ["actor_name", "subject_name", "message", "ip", "request_id"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    @admin.display(description=_("what changed"))
    def summary(self, event):
        return event.summary()
