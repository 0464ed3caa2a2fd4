"""Sign-in and password pages: thin views over `accounts.flow` and `accounts.passwords`."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from .flow import LoginFlow
from .forms import ForgotPasswordForm, PortalPasswordChangeForm
from .passwords import password_help


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login_view(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    return LoginFlow(request).handle().respond(request)


@require_POST
@csrf_protect
def logout_view(request):
    logout(request)
    messages.info(request, _("You have logged out."))
    return redirect("accounts:login")


@sensitive_post_parameters("new_password1", "new_password2", "old_password")
@csrf_protect
@never_cache
def password_change(request):
    """The forced change inside a login, or a signed-in person changing their own password."""
    if not request.user.is_authenticated:
        return LoginFlow(request).handle().respond(request)
    form = PortalPasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, request.user)  # this session stays; all others end
        messages.success(request, _("Your password has been changed."))
        return redirect("home")
    return render(request, "accounts/password_change.html", {"form": form, "forced": False})


@csrf_protect
@never_cache
def forgot_password(request):
    """'Forgot your password?': the same answer for every address, known or not."""
    form = ForgotPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password_help(form.cleaned_data["email"], request.META.get("REMOTE_ADDR"))
        return render(request, "accounts/forgot_password_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "accounts/forgot_password.html", {"form": form})
