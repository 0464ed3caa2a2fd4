"""URLs of the portal: the apps wired together."""

from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from accounts.admin import login_doctor, login_doctor_fix
from messaging.views import inbox

from . import views

admin.site.index_title = _("Administration")  # the site's own name is the branding's (admin/base_site.html)
handler500 = "portal.views.server_error"


urlpatterns = [
    path("", inbox, name="home"),
    path("", include("accounts.urls")),
    path("", include("messaging.urls")),
    path("api/", include("api.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("branding/theme-<str:colour>.css", views.theme, name="theme"),
    path("branding/logo-<str:version>.png", views.logo, name="logo"),
    path("metrics", views.metrics, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/login/", views.admin_login),
    path("admin/diagnose/", admin.site.admin_view(login_doctor), name="login_doctor"),
    path("admin/diagnose/fix/", admin.site.admin_view(login_doctor_fix), name="login_doctor_fix"),
    path("admin/", admin.site.urls),
]
