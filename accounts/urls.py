"""Sign-in URLs."""

from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/change/", views.password_change, name="password_change"),
    path("password/forgot/", views.forgot_password, name="forgot_password"),
    path("security/", views.security, name="security"),
]
