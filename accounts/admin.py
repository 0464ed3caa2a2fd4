"""The admin as the administrators' product surface: users, profiles, the login audit log."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.utils.translation import gettext_lazy as _

from .models import AuthProfile, EmailAlias, LoginAttempt, User, portal_permission


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


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    inlines = [EmailAliasInline]
    ordering = ["email"]
    list_display = ["email", "name", "kind", "auth_profile", "is_active", "is_staff", "last_login"]
    list_filter = ["kind", "is_active", "is_staff", "is_superuser", "auth_profile", "groups"]
    search_fields = ["email", "name", "aliases__email"]
    list_select_related = ["auth_profile"]
    actions = ["grant_portal_access", "revoke_portal_access"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Person"), {"fields": ["name", "kind"]}),
        (_("Sign-in"), {"fields": ["auth_profile", "must_change_password", "temporary_password_expires_at"]}),
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
    readonly_fields = ["last_login", "date_joined"]

    @admin.action(description=_("Grant the portal permission"))
    def grant_portal_access(self, request, queryset):
        permission = portal_permission()
        for user in queryset:
            user.user_permissions.add(permission)
        self.message_user(
            request, _("Granted portal access to %d users.") % queryset.count(), messages.SUCCESS
        )

    @admin.action(description=_("Remove the portal permission (given directly)"))
    def revoke_portal_access(self, request, queryset):
        permission = portal_permission()
        for user in queryset:
            user.user_permissions.remove(permission)
        self.message_user(
            request, _("Removed portal access from %d users.") % queryset.count(), messages.SUCCESS
        )


@admin.register(AuthProfile)
class AuthProfileAdmin(admin.ModelAdmin):
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


@admin.register(LoginAttempt)
class LoginAttemptAdmin(admin.ModelAdmin):
    """Read-only: support finds an attempt by the reference code the person read out."""

    list_display = [
        "at",
        "reference",
        "email_entered",
        "outcome",
        "reason",
        "method",
        "alias_used",
        "ip",
        "browser",
    ]
    list_filter = ["outcome", "reason", "method", "alias_used"]
    search_fields = ["reference", "email_entered", "user__email", "ip"]
    date_hierarchy = "at"
    list_select_related = ["user"]
    readonly_fields = [f.name for f in LoginAttempt._meta.fields]

    def get_search_results(self, request, queryset, search_term):
        # A reference is read out in any case, with or without its dash.
        term = search_term.strip().upper()
        if len(term) == 8 and "-" not in term and term.isalnum():
            search_term = f"{term[:4]}-{term[4:]}"
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
