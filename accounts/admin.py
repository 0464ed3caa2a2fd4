"""The admin as the administrators' product surface: users, profiles, the login audit log."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import password_validation
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.admin import AuditLogAdmin, confirm_action
from portal.client import Client

from . import actions as account_actions
from . import diagnosis
from .methods import network, oidc, saml
from .models import (
    AuthProfile,
    EmailAlias,
    LoginAttempt,
    PasswordHelpRequest,
    Throttle,
    User,
)
from .troubleshooting import reason_help


class SetPasswordToChangeForm(forms.Form):
    password = forms.CharField(
        label=_("Password (to be changed at next login)"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email", "name", "kind")


class UserChangeForm(DjangoUserChangeForm):
    class Meta(DjangoUserChangeForm.Meta):
        model = User
        fields = "__all__"


class EmailAliasInline(admin.TabularInline):
    model = EmailAlias
    extra = 0


def confirmed(action, question):
    """An admin action that asks `question` on a confirmation page, then runs the account action on each
    chosen account (its name, label and permission are the account action's)."""

    @admin.action(description=action.label, permissions=["change"])
    def ask_then_run(modeladmin, request, queryset):
        if "confirm" not in request.POST:
            return confirm_action(modeladmin, request, queryset, action.__name__, question)
        run_on_each(modeladmin, request, queryset, action)
        return None

    ask_then_run.__name__ = action.__name__
    return ask_then_run


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    inlines = [EmailAliasInline]
    ordering = ["email"]
    list_display = [
        "email",
        "name",
        "kind",
        "auth_profile",
        "two_step",
        "passkey_count",
        "is_active",
        "is_staff",
        "last_login",
    ]
    list_filter = ["kind", "is_active", "is_staff", "is_superuser", "auth_profile", "groups"]
    search_fields = ["email", "name", "aliases__email"]
    list_select_related = ["auth_profile"]
    actions = [
        "grant_portal_access",
        "revoke_portal_access",
        "send_temporary_password",
        "set_password_to_change",
        "reset_two_step",
        "deactivate",
        "reactivate",
        "remove_passkeys",
        "forget_provider_identities",
        "end_all_sessions",
    ]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Person"), {"fields": ["name", "kind"]}),
        (
            _("Sign-in"),
            {
                "fields": [
                    "auth_profile",
                    "must_change_password",
                    "temporary_password_expires_at",
                    "provider_identities",
                ]
            },
        ),
        (
            _("Permissions"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "name", "kind", "usable_password", "password1", "password2"],
            },
        ),
    ]
    readonly_fields = ["last_login", "date_joined", "provider_identities"]

    @admin.display(description=_("linked at the OpenID provider"))
    def provider_identities(self, user):
        """Made by the first sign-in there, forgotten by the action of that name: never edited here."""
        links = []
        for link in user.provider_identities.all():
            since = date_format(timezone.localtime(link.linked_at), "DATETIME_FORMAT")
            words = _("subject %(subject)s at %(issuer)s, since %(date)s")
            links.append(words % {"subject": link.subject, "issuer": link.issuer, "date": since})
        return "; ".join(links) or _("Not linked")

    @admin.action(description=account_actions.grant_portal_access.label, permissions=["change"])
    def grant_portal_access(self, request, queryset):
        run_on_each(self, request, queryset, account_actions.grant_portal_access)

    @admin.action(description=account_actions.remove_portal_access.label, permissions=["change"])
    def revoke_portal_access(self, request, queryset):
        run_on_each(self, request, queryset, account_actions.remove_portal_access)

    def get_queryset(self, request):
        enrolled = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return (
            super()
            .get_queryset(request)
            .annotate(two_step_enrolled=Exists(enrolled), passkeys_held=Count("passkeys", distinct=True))
        )

    @admin.display(description=_("passkeys"), ordering="passkeys_held")
    def passkey_count(self, user):
        return user.passkeys_held

    @admin.display(boolean=True, description=_("two-step set up"), ordering="two_step_enrolled")
    def two_step(self, user):
        return user.two_step_enrolled

    reset_two_step = confirmed(
        account_actions.reset_two_step,
        _(
            "Remove the authenticator apps and backup codes of these users? "
            "They set up two-step again at their next login."
        ),
    )

    send_temporary_password = confirmed(
        account_actions.send_temporary_password,
        _("Send a temporary password by email to these users?"),
    )

    @admin.action(description=account_actions.set_password_to_change.label, permissions=["change"])
    def set_password_to_change(self, request, queryset):
        form = SetPasswordToChangeForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return confirm_action(
                self,
                request,
                queryset,
                "set_password_to_change",
                _("Set a password that these users must change at next login"),
                form,
            )
        run_on_each(
            self, request, queryset, account_actions.set_password_to_change, form.cleaned_data["password"]
        )
        return None

    deactivate = confirmed(
        account_actions.deactivate,
        _("Deactivate these accounts? They can no longer sign in; their sessions end at once."),
    )

    remove_passkeys = confirmed(
        account_actions.remove_passkeys,
        _("Remove every passkey of these users? They sign in with their password and add new ones."),
    )

    forget_provider_identities = confirmed(
        account_actions.forget_provider_identities,
        _(
            "Forget the links of these users to the OpenID provider? The next sign-in through the provider "
            "links the account the provider signs in."
        ),
    )

    @admin.action(description=account_actions.reactivate.label, permissions=["change"])
    def reactivate(self, request, queryset):
        run_on_each(self, request, queryset, account_actions.reactivate)

    end_all_sessions = confirmed(
        account_actions.end_all_sessions,
        _("Log these people out everywhere? Each must log in again on every device."),
    )

    # Django's own pages change accounts through the actions too: the change and add forms, the groups
    # and permissions, the aliases, the password page and deletion. Each is checked and recorded.
    def save_model(self, request, obj, form, change):
        client = Client.of(request)
        if not change:
            data = form.cleaned_data
            password = data.get("password1") if data.get("usable_password", True) else None
            fields = {name: data[name] for name in ("name", "kind") if name in data}
            created = account_actions.create_account(request.user, client, data["email"], password, **fields)
            obj.pk, obj._state = created.pk, created._state
            obj.__dict__.update(created.__dict__)
            return
        old = User.objects.get(pk=obj.pk)
        changes = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in form.cleaned_data and name not in {"groups", "user_permissions", "password"}
        }
        for name in changes:
            setattr(obj, name, getattr(old, name))  # the form set them; the action sets them again
        account_actions.change_account(request.user, client, obj, changes)

    def save_related(self, request, form, formsets, change):
        client = Client.of(request)
        if "groups" in form.changed_data:
            account_actions.set_groups(request.user, client, form.instance, form.cleaned_data["groups"])
        if "user_permissions" in form.changed_data:
            account_actions.set_permissions(
                request.user, client, form.instance, form.cleaned_data["user_permissions"]
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        """The aliases: added and removed through the actions (claiming an address is acting on it)."""
        client = Client.of(request)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.initial_forms:
            if inline_form in formset.deleted_forms and inline_form.instance.pk:
                account_actions.remove_alias(request.user, client, inline_form.instance)
                formset.deleted_objects.append(inline_form.instance)
            elif inline_form.has_changed() and inline_form.instance.pk:
                # Another address typed over an alias: the old one goes and the new one comes, each through
                # its action (the form holds the new address already; the database still the old one).
                stored = EmailAlias.objects.get(pk=inline_form.instance.pk)
                account_actions.remove_alias(request.user, client, stored)
                alias = account_actions.add_alias(
                    request.user, client, form.instance, inline_form.cleaned_data["email"]
                )
                formset.changed_objects.append((alias, ["email"]))
        for inline_form in formset.extra_forms:
            if inline_form.has_changed() and inline_form not in formset.deleted_forms:
                alias = account_actions.add_alias(
                    request.user, client, form.instance, inline_form.cleaned_data["email"]
                )
                formset.new_objects.append(alias)

    def delete_model(self, request, obj):
        account_actions.delete_account(request.user, Client.of(request), obj)

    def delete_queryset(self, request, queryset):
        client = Client.of(request)
        for user in queryset:
            account_actions.delete_account(request.user, client, user)

    def user_change_password(self, request, id, form_url=""):
        """Django's password page, with the change made (and recorded) by the actions."""
        if request.method == "POST":
            user = self.get_object(request, unquote(id))
            if user is not None and self.has_change_permission(request, user):
                form = self.change_password_form(user, request.POST)
                usable = form.is_valid() and form.cleaned_data.get("set_usable_password", True)
                if form.is_valid() and (usable or "unset-password" in request.POST):
                    password = form.cleaned_data.get("password1") if usable else None
                    try:
                        account_actions.set_password(request.user, Client.of(request), user, password)
                    except account_actions.Refused as refusal:
                        messages.error(request, str(refusal))
                    else:
                        messages.success(
                            request, _("Password changed: it must be changed at the next login.")
                        )
                    return redirect(reverse("admin:accounts_user_change", args=[user.pk]))
        return super().user_change_password(request, id, form_url)

    # Nobody edits, deletes or sets the password of an account with more power than their own, and
    # only a superuser hands out rights: otherwise a helpdesk member could make themselves anything.
    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or account_actions.has_power_over(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or account_actions.has_power_over(request.user, obj))

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not request.user.is_superuser:
            # The others (de)activate through the audited actions; turning a recipient into staff would
            # let them sign in as that recipient and read their messages.
            fields += ["is_active", "is_staff", "is_superuser", "groups", "user_permissions", "kind"]
        if obj is not None and obj.pk == request.user.pk:
            fields += sorted(account_actions.IDENTITY_FIELDS - set(fields))  # never on one's own account
        return fields

    def get_deleted_objects(self, objs, request):
        """Deleting several accounts at once is refused when one of them is stronger than the actor."""
        deletable, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        if any(not account_actions.has_power_over(request.user, user) for user in objs):
            perms_needed.add(_("accounts with rights that you do not have"))
        return deletable, counts, perms_needed, protected


def run_on_each(modeladmin, request, queryset, action, *args):
    """Run an account action on each chosen account; say how many were done and which were refused."""
    client, done, refused = Client.of(request), 0, []
    for user in queryset:
        try:
            action(request.user, client, user, *args)
            done += 1
        except account_actions.Refused:
            refused.append(user.email)
    if done:
        text = ngettext(
            "%(action)s: done for %(count)d account.", "%(action)s: done for %(count)d accounts.", done
        )
        modeladmin.message_user(request, text % {"action": action.label, "count": done}, messages.SUCCESS)
    if refused:
        text = _("Refused for %(accounts)s: they have rights that you do not have.")
        modeladmin.message_user(request, text % {"accounts": ", ".join(refused)}, messages.ERROR)


class DirectoryCheckForm(forms.Form):
    email = forms.EmailField(label=_("Look up this address (optional)"), required=False)


class ProfilePowerForm(forms.ModelForm):
    """The profile as it would be saved must not decide for accounts with more rights than the actor's
    (a domain added, made the default): said on the form, before the action refuses."""

    actor = None

    def _post_clean(self):
        super()._post_clean()
        if not account_actions.may_change_profile(self.actor, self.instance):
            self.add_error(
                None, _("This profile would decide how accounts with rights that you do not have sign in.")
            )


@admin.register(AuthProfile)
class AuthProfileAdmin(admin.ModelAdmin):
    change_list_template = "admin/accounts/authprofile/change_list.html"
    list_display = [
        "name",
        "methods",
        "is_default",
        "require_two_step",
        "allow_self_service_password",
        "session_minutes",
        "domain_summary",
    ]
    list_filter = ["methods", "is_default", "require_two_step"]
    search_fields = ["name", "domains"]

    @admin.display(description=_("domains"))
    def domain_summary(self, profile):
        return ", ".join(profile.domain_list()) or "—"

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or account_actions.may_change_profile(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or account_actions.may_change_profile(request.user, obj))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (ProfilePowerForm, form), {"actor": request.user})

    def save_model(self, request, obj, form, change):
        """Saved by the action: checked against every account the profile decides, and recorded."""
        account_actions.save_profile(request.user, Client.of(request), obj)

    def delete_model(self, request, obj):
        account_actions.delete_profile(request.user, Client.of(request), obj)

    def delete_queryset(self, request, queryset):
        for profile in queryset:
            account_actions.delete_profile(request.user, Client.of(request), profile)

    def get_urls(self):
        directory = self.admin_site.admin_view(self.directory_check)
        sso = self.admin_site.admin_view(self.sso_check)
        return [
            path("directory/", directory, name="accounts_directory_check"),
            path("single-sign-on/", sso, name="accounts_sso_check"),
            *super().get_urls(),
        ]

    def sso_check(self, request):
        """Single sign-on as the portal sees it: what to give the IdP, what the IdP's metadata says."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Check single sign-on"),
            "report": saml.diagnose(),
            "oidc": oidc.diagnose(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/sso_check.html", context)

    def directory_check(self, request):
        """The company directory as the portal sees it: reachable, service bind, timing, an entry."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = DirectoryCheckForm(request.GET or None)
        email = form.cleaned_data["email"] if form.is_valid() else ""
        report = network.diagnose(email) if request.GET else None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Check the company directory"),
            "form": form,
            "report": report,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/directory_check.html", context)


@admin.register(LoginAttempt)
class LoginAttemptAdmin(AuditLogAdmin):
    """Read-only: support finds an attempt by the reference code the person read out."""

    list_display = [
        "at",
        "reference",
        "email_entered",
        "outcome",
        "reason",
        "explanation",
        "method",
        "ip",
        "browser",
        "diagnose",
    ]
    list_filter = ["outcome", "reason", "method", "alias_used"]
    search_fields = ["reference", "email_entered", "user__email", "ip"]
    date_hierarchy = "at"
    list_select_related = ["user"]
    readonly_fields = ["diagnose", "explanation", "what_to_do", *(f.name for f in LoginAttempt._meta.fields)]

    @admin.display(description=_("what it means"))
    def explanation(self, attempt):
        return reason_help(attempt.reason).explanation

    @admin.display(description=_("what to do"))
    def what_to_do(self, attempt):
        return reason_help(attempt.reason).what_to_do

    @admin.display(description=_("login doctor"))
    def diagnose(self, attempt):
        return format_html('<a href="{}">{}</a>', doctor_url(attempt.email_entered), _("Diagnose"))

    def get_search_results(self, request, queryset, search_term):
        # A reference is read out in any case, with or without its dash.
        term = search_term.strip().upper()
        if len(term) == 8 and "-" not in term and term.isalnum():
            search_term = f"{term[:4]}-{term[4:]}"
        return super().get_search_results(request, queryset, search_term)


@admin.register(Throttle)
class ThrottleAdmin(admin.ModelAdmin):
    """Lockouts after too many failed guesses; an administrator may lift one early."""

    list_display = [
        "key",
        "scope",
        "failures",
        "window_start",
        "locked_until",
        "locked_now",
        "lifted_at",
        "lifted_by",
    ]
    list_filter = ["scope"]
    search_fields = ["key"]
    readonly_fields = [f.name for f in Throttle._meta.fields]
    actions = ["lift"]

    @admin.display(boolean=True, description=_("locked now"))
    def locked_now(self, row):
        return row.is_locked

    @admin.action(description=account_actions.lift_lockouts.label, permissions=["change"])
    def lift(self, request, queryset):
        rows = list(queryset)
        try:
            account_actions.lift_lockouts(request.user, Client.of(request), rows)
        except account_actions.Refused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return
        self.message_user(request, _("Lifted %d lockouts.") % len(rows), messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Changing means lifting, through the action; the fields themselves stay read-only.
        return super().has_change_permission(request, obj) and obj is None


@admin.register(PasswordHelpRequest)
class PasswordHelpRequestAdmin(AuditLogAdmin):
    list_display = ["at", "email_entered", "outcome", "sent_at", "ip", "requested_by"]
    list_filter = ["outcome"]
    search_fields = ["email_entered", "ip"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in PasswordHelpRequest._meta.fields]


admin.site.unregister(Group)  # registered again below, guarded

# Devices are managed through the users (status column, reset action): their secrets stay out of view.
for device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(device_model):
        admin.site.unregister(device_model)


def doctor_url(email):
    return reverse("login_doctor") + "?" + urlencode({"email": email})


class DoctorForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))


def login_doctor(request):
    """The login doctor: why an address can or cannot log in, with the fixes next to the problems."""
    if not request.user.has_perm("accounts.view_user"):
        raise PermissionDenied
    form = DoctorForm(request.GET or None)
    report = diagnosis.diagnose(form.cleaned_data["email"]) if form.is_valid() else None
    permitted = {name for name, fix in diagnosis.FIXES.items() if request.user.has_perm(fix.permission)}
    context = {
        **admin.site.each_context(request),
        "title": _("Login doctor"),
        "form": form,
        "report": report,
        "fixes": {name: fix.label for name, fix in diagnosis.FIXES.items() if name in permitted},
    }
    return TemplateResponse(request, "admin/accounts/login_doctor.html", context)


@require_POST
def login_doctor_fix(request):
    """One fix, pressed on the doctor's page: a POST with CSRF, by an administrator allowed to make it."""
    form = DoctorForm(request.POST)
    if not form.is_valid():
        raise PermissionDenied
    email, fix = form.cleaned_data["email"], diagnosis.FIXES.get(request.POST.get("fix", ""))
    if fix is None or not request.user.has_perm(fix.permission):
        raise PermissionDenied
    try:
        messages.success(
            request, diagnosis.apply_fix(request.POST["fix"], email, request.user, Client.of(request))
        )
    except diagnosis.FixRefused:
        raise PermissionDenied from None
    except account_actions.Refused as refusal:
        messages.error(request, str(refusal))
    return redirect(doctor_url(email))


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """Django's group page, with every change made by the actions: nobody gives a group (theirs or
    anyone's) a permission they do not hold, nor changes a group that holds one they lack."""

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or account_actions.may_change_group(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or account_actions.may_change_group(request.user, obj))

    def save_model(self, request, obj, form, change):
        account_actions.change_group(
            request.user,
            Client.of(request),
            obj,
            form.cleaned_data.get("permissions", []),
            created=not change,
        )

    def save_related(self, request, form, formsets, change):
        """The permissions were given by the action, with the group."""

    def delete_model(self, request, obj):
        account_actions.delete_group(request.user, Client.of(request), obj)

    def delete_queryset(self, request, queryset):
        for group in queryset:
            account_actions.delete_group(request.user, Client.of(request), group)
