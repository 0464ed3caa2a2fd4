"""Sign-in URLs."""

from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/sso/", views.login_view, name="sso"),
    path("saml/acs/", views.saml_acs, name="saml_acs"),
    path("saml/metadata/", views.saml_metadata, name="saml_metadata"),
    path("saml/sls/", views.saml_sls, name="saml_sls"),
    path("oidc/callback/", views.oidc_callback, name="oidc_callback"),
    path("oidc/backchannel-logout/", views.oidc_backchannel_logout, name="oidc_backchannel_logout"),
    path("logout/", views.logout_view, name="logout"),
    path("browsers/", views.browsers, name="browsers"),
    path("password/change/", views.password_change, name="password_change"),
    path("password/forgot/", views.forgot_password, name="forgot_password"),
    path("security/", views.security, name="security"),
    path("security/backup-codes/", views.new_backup_codes, name="new_backup_codes"),
    path("security/app/", views.new_app, name="new_app"),
    path("security/app/confirm/", views.confirm_app, name="confirm_app"),
    path("security/passkeys/", views.passkeys, name="passkeys"),
    path("security/passkeys/remove/", views.remove_passkey, name="remove_passkey"),
    path("security/passkeys/not-now/", views.decline_passkey_offer, name="decline_passkey_offer"),
    path("security/sessions/", views.sessions_page, name="sessions"),
    path("security/sessions/others/", views.end_other_sessions, name="end_other_sessions"),
    path("security/sessions/end/", views.end_session, name="end_session"),
]
