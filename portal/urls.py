"""URLs of the portal: the apps wired together."""

from django.contrib import admin
from django.urls import include, path

from accounts.admin import login_doctor, login_doctor_fix
from messaging.views import inbox

from . import views

admin.site.site_header = "Secure portal administration"
admin.site.site_title = "Secure portal admin"
admin.site.index_title = "Administration"

urlpatterns = [
    path("", inbox, name="home"),
    path("", include("accounts.urls")),
    path("", include("messaging.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/login/", views.admin_login),
    path("admin/diagnose/", admin.site.admin_view(login_doctor), name="login_doctor"),
    path("admin/diagnose/fix/", admin.site.admin_view(login_doctor_fix), name="login_doctor_fix"),
    path("admin/", admin.site.urls),
]
