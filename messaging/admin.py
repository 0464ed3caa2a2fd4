"""Held messages in the admin: metadata for everyone with access, content only with its own permission."""

import tempfile

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from portal.admin import ActionsOnlyAdmin, AuditLogAdmin, confirm_action
from portal.client import Client

from . import actions, ediscovery
from .holding import read_bodies
from .models import (
    AccessEvent,
    Attachment,
    LegalHold,
    Message,
    Notification,
    QuarantinedMessage,
    Recipient,
    SpooledMail,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RecipientInline(ReadOnlyInline):
    model = Recipient
    fields = ["address", "user", "notified_at", "first_opened_at", "status"]
    readonly_fields = fields

    @admin.display(description=_("status"))
    def status(self, recipient):
        return recipient.progress.label


class AttachmentInline(ReadOnlyInline):
    model = Attachment
    fields = ["filename", "content_type", "size", "sha256"]
    readonly_fields = fields


@admin.register(Message)
class MessageAdmin(ActionsOnlyAdmin):
    list_display = [
        "subject", "sender", "kind", "source", "created_at", "expires_at", "revoked_at", "scan", "on_hold",
    ]  # fmt: skip
    list_filter = ["kind", "source", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["subject", "sender", "recipients__address", "public_id"]
    date_hierarchy = "created_at"
    inlines = [RecipientInline, AttachmentInline]
    actions = ["resend_notifications", "revoke_messages", "export_for_ediscovery", "place_legal_hold"]
    fields = [
        "public_id", "kind", "sender", "sender_user", "subject", "source", "created_at", "expires_at",
        "revoked_at", "purged_at", "allow_reply", "read_receipt", "in_reply_to", "key_id", "content_link",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(boolean=True, description=_("legal hold"))
    def on_hold(self, message):
        return not LegalHold.objects.not_held(Message.objects.filter(pk=message.pk)).exists()

    def has_export_permission(self, request):
        return request.user.has_perm(ediscovery.EXPORT_MESSAGES)

    def has_hold_permission(self, request):
        return request.user.has_perm(actions.MANAGE_LEGAL_HOLD)

    @admin.action(description=_("Export for eDiscovery (.eml and history, zipped)"), permissions=["export"])
    def export_for_ediscovery(self, request, queryset):
        sink = tempfile.TemporaryFile()
        ediscovery.export(request.user, Client.of(request), queryset.order_by("created_at", "pk"), sink)
        sink.seek(0)
        return FileResponse(
            sink, as_attachment=True, filename="ediscovery.zip", content_type="application/zip"
        )

    @admin.action(description=_("Place a legal hold on these messages"), permissions=["hold"])
    def place_legal_hold(self, request, queryset):
        form = LegalHoldReasonForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            title = _("Keep these messages whatever the retention says")
            return confirm_action(self, request, queryset, "place_legal_hold", title, form)
        done, refusals = run_each(
            request, lambda actor, client, message: actions.place_legal_hold(
                actor, client, form.cleaned_data["reason"], message=message
            ), queryset,
        )  # fmt: skip
        self._report(request, _("Placed %d legal holds."), (done, refusals))
        return None

    @admin.display(description=_("content"))
    def content_link(self, message):
        url = reverse("admin:messaging_message_content", args=[message.pk])
        return format_html('<a href="{}">{}</a>', url, _("Read the content (the reading is logged)"))

    def get_urls(self):
        view = self.admin_site.admin_view(self.content_view)
        return [path("<int:pk>/content/", view, name="messaging_message_content")] + super().get_urls()

    def content_view(self, request, pk):
        """The content, for administrators with the separate permission; each reading is logged."""
        if not request.user.has_perm("messaging.view_message_content"):
            raise PermissionDenied
        message = get_object_or_404(Message, pk=pk)
        text, html = read_bodies(message) if not message.purged_at else ("", "")
        AccessEvent.record(request.user, Client.of(request), message, AccessEvent.Action.ADMIN_VIEW)
        context = {
            **self.admin_site.each_context(request),
            "title": message.subject or _("(no subject)"),
            "message": message,
            "text": text,
            "html": html,
            "opts": Message._meta,
        }
        return TemplateResponse(request, "admin/messaging/message_content.html", context)

    @admin.action(description=_("Resend the notification"), permissions=["change"])
    def resend_notifications(self, request, queryset):
        if "confirm" not in request.POST:
            return confirm_action(
                self, request, queryset, "resend_notifications",
                _("Send a new notification (with a new link) to every recipient of these messages? "
                  "The links of the earlier notifications stop working."),
            )  # fmt: skip
        recipients = Recipient.objects.filter(message__in=queryset).select_related("message")
        self._report(request, _("Queued %d notifications."), run_each(request, actions.resend, recipients))
        return None

    @admin.action(description=_("Revoke (withdraw) the messages"), permissions=["change"])
    def revoke_messages(self, request, queryset):
        if "confirm" not in request.POST:
            return confirm_action(
                self, request, queryset, "revoke_messages",
                _("Withdraw these messages? Their recipients will no longer be able to read them."),
            )  # fmt: skip
        open_ones = queryset.filter(revoked_at__isnull=True)
        self._report(request, _("Revoked %d messages."), run_each(request, actions.recall, open_ones))
        return None

    def _report(self, request, text, outcome):
        done, refusals = outcome
        self.message_user(request, text % done, messages.SUCCESS)
        for refusal in dict.fromkeys(refusals):
            self.message_user(request, refusal, messages.ERROR)


@admin.register(AccessEvent)
class AccessEventAdmin(AuditLogAdmin):
    list_display = ["at", "action", "message", "user", "attachment", "ip"]
    list_filter = ["action"]
    search_fields = ["user__email", "message__subject", "ip"]
    date_hierarchy = "at"
    list_select_related = ["message", "user", "attachment"]


@admin.register(Notification)
class NotificationAdmin(AuditLogAdmin):
    list_display = ["created_at", "kind", "recipient", "sent_at", "attempts", "next_attempt_at", "last_error"]
    list_filter = ["kind", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["recipient__address"]
    list_select_related = ["recipient"]


@admin.register(QuarantinedMessage)
class QuarantineAdmin(ActionsOnlyAdmin):
    """Held mail with malware: nobody was notified, nobody opens it; an administrator deletes it."""

    list_display = ["created_at", "sender", "recipient_list", "finding", "purged_at"]
    list_filter = [("purged_at", admin.EmptyFieldListFilter)]
    search_fields = ["sender", "recipients__address", "finding", "subject"]
    date_hierarchy = "created_at"
    actions = ["delete_content"]
    fields = ["public_id", "created_at", "sender", "subject", "finding", "recipient_list", "purged_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("recipients")

    @admin.display(description=_("recipients"))
    def recipient_list(self, message):
        return ", ".join(r.address for r in message.recipients.all())

    @admin.action(description=_("Delete the quarantined content"), permissions=["change"])
    def delete_content(self, request, queryset):
        if "confirm" not in request.POST:
            return confirm_action(
                self, request, queryset, "delete_content",
                _("Delete the content (bodies and attachments) of these quarantined messages? Their "
                  "envelope stays for the history."),
            )  # fmt: skip
        done, refusals = run_each(request, _purge_malware, queryset.filter(purged_at__isnull=True))
        self.message_user(request, _("Deleted the content of %d messages.") % done, messages.SUCCESS)
        for refusal in dict.fromkeys(refusals):
            self.message_user(request, refusal, messages.ERROR)
        return None


def _purge_malware(actor, client, message):
    return actions.purge(actor, client, message, reason="malware")


def run_each(request, action, objects):
    """Run a message action on each object: (how many were done, the refusals' words)."""
    client, done, refusals = Client.of(request), 0, []
    for item in objects:
        try:
            action(request.user, client, item)
            done += 1
        except actions.Refused as refusal:
            refusals.append(str(refusal))
    return done, refusals


class LegalHoldReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (a case or matter reference)"),
        max_length=500,
        widget=forms.TextInput(attrs={"size": 60}),
    )


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    """Holds on an account (everything it sent or received) or a message: placed and lifted on the record."""

    list_display = ["placed_at", "account", "message", "reason", "placed_by", "lifted_at", "lifted_by"]
    list_filter = [("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["account__email", "message__subject", "reason"]
    autocomplete_fields = []
    raw_id_fields = ["account", "message"]
    actions = ["lift"]
    fields = ["account", "message", "reason"]

    def has_module_permission(self, request):
        return request.user.has_perm(actions.MANAGE_LEGAL_HOLD)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(actions.MANAGE_LEGAL_HOLD)

    def has_add_permission(self, request):
        return request.user.has_perm(actions.MANAGE_LEGAL_HOLD)

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm(actions.MANAGE_LEGAL_HOLD) and obj is None

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        placed = actions.place_legal_hold(
            request.user, Client.of(request), form.cleaned_data["reason"],
            account=form.cleaned_data.get("account"), message=form.cleaned_data.get("message"),
        )  # fmt: skip
        obj.pk, obj._state = placed.pk, placed._state

    @admin.action(description=_("Lift the legal holds"), permissions=["change"])
    def lift(self, request, queryset):
        done, refusals = run_each(request, actions.lift_legal_hold, queryset.filter(lifted_at__isnull=True))
        self.message_user(request, _("Lifted %d legal holds.") % done, messages.SUCCESS)
        for refusal in dict.fromkeys(refusals):
            self.message_user(request, refusal, messages.ERROR)


@admin.register(SpooledMail)
class SpooledMailAdmin(ActionsOnlyAdmin):
    """Mail the intake accepted that is not held yet: waiting a moment, retried, or given up on (with why)."""

    list_display = [
        "received_at",
        "mail_from",
        "size",
        "attempts",
        "next_attempt_at",
        "failed_at",
        "last_error",
    ]
    list_filter = [("failed_at", admin.EmptyFieldListFilter)]
    search_fields = ["mail_from", "last_error"]
    date_hierarchy = "received_at"
    fields = [
        "public_id",
        "received_at",
        "mail_from",
        "rcpt_tos",
        "peer",
        "size",
        "attempts",
        "failed_at",
        "last_error",
    ]
    readonly_fields = fields
    actions = ["try_again"]

    @admin.action(description=_("Try to hold them again"), permissions=["change"])
    def try_again(self, request, queryset):
        count = queryset.update(failed_at=None, next_attempt_at=timezone.now())
        self.message_user(
            request, _("%d messages will be tried again by the worker.") % count, messages.SUCCESS
        )
