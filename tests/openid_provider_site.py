"""A real OpenID provider for the tests: django-oauth-toolkit's, in a throwaway project of its own,
run in a separate process (`python tests/openid_provider_site.py FOLDER PORT PORTAL_BASE_URL`).

It knows one client, the portal (`portal` / `portal-secret`, PKCE required, consent skipped). The test
signs a person in at the provider with POST /test-login/ {email, verified, name, address_in}; the
provider's key is in
FOLDER/key.pem (a new file and a restart is a key rotation).
"""

import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import django
from django.conf import settings
from django.urls import include, path

CLIENT_ID, CLIENT_SECRET = "portal", "portal-secret"


def configure(folder, port):
    settings.configure(
        DEBUG=False,
        SECRET_KEY="throwaway-openid-provider-for-tests",  # noqa: S106
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "op.sqlite3")}},
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        OAUTH2_PROVIDER={
            "OIDC_ENABLED": True,
            "OIDC_RSA_PRIVATE_KEY": (folder / "key.pem").read_text(),
            "PKCE_REQUIRED": True,
            "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
            "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
            "OAUTH2_VALIDATOR_CLASS": __name__ + ".Validator",
            "SCOPES": {"openid": "OpenID", "email": "Email", "profile": "Profile"},
            "OIDC_ISS_ENDPOINT": f"http://127.0.0.1:{port}/o",
            "ID_TOKEN_EXPIRE_SECONDS": 300,
        },
        LOGIN_URL="/test-login/",
    )


def main():
    folder, port, portal = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3].rstrip("/")
    configure(folder, port)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from oauth2_provider.models import Application

    Application.objects.update_or_create(
        client_id=CLIENT_ID,
        defaults={
            "name": "Secure messaging portal",
            "client_secret": CLIENT_SECRET,
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": f"{portal}/oidc/callback/",
            "post_logout_redirect_uris": f"{portal}/login/",
            "algorithm": Application.RS256_ALGORITHM,
            "skip_authorization": True,
        },
    )
    from django.core.wsgi import get_wsgi_application

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    httpd = make_server("127.0.0.1", port, get_wsgi_application(), server_class=Server, handler_class=Quiet)
    print("ready", flush=True)
    httpd.serve_forever()


def test_login(request):
    """Sign a person in at the provider, as its own login page would (the test names them)."""
    from django.contrib.auth import get_user_model, login
    from django.http import HttpResponse

    email = request.POST["email"]
    username = request.POST.get("account") or email  # another account of the provider may have the address
    user, _new = get_user_model().objects.get_or_create(username=username, defaults={"email": email})
    user.email, user.last_name = email, request.POST.get("verified", "yes")
    user.first_name = request.POST.get("name", "")
    user.is_staff = request.POST.get("address_in") == "userinfo"  # the address only at userinfo
    user.is_superuser = request.POST.get("style") == "entra"  # xms_edov instead of email_verified
    user.save()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse("signed in")


def register_portal(request):
    """The portal at another address too (a browser test's live server): its callback and logout page."""
    from django.http import HttpResponse
    from oauth2_provider.models import Application

    portal = request.POST["portal"].rstrip("/")
    application = Application.objects.get(client_id=CLIENT_ID)
    redirects = set(application.redirect_uris.split()) | {f"{portal}/oidc/callback/"}
    logouts = set(application.post_logout_redirect_uris.split()) | {f"{portal}/login/"}
    application.redirect_uris, application.post_logout_redirect_uris = " ".join(redirects), " ".join(logouts)
    application.save()
    return HttpResponse("registered")


def logout_token(request):
    """What the provider posts to a relying party's back-channel logout URI when `account` logs out
    there (OpenID Connect Back-Channel Logout 1.0), signed with its key; `changes` (JSON) sets claims,
    or drops those set to null, as a faulty or hostile sender would."""
    import json
    import time
    import uuid

    from django.contrib.auth import get_user_model
    from django.http import HttpResponse
    from jwcrypto import jwk
    from jwcrypto import jwt as jose_jwt

    user = get_user_model().objects.get(username=request.POST["account"])
    claims = {
        "iss": settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"],
        "aud": CLIENT_ID,
        "iat": int(time.time()),
        "exp": int(time.time()) + 120,
        "jti": uuid.uuid4().hex,
        "sub": str(user.pk),
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    for name, value in json.loads(request.POST.get("changes") or "{}").items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    key = jwk.JWK.from_pem(settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"].encode())
    header = {"alg": "RS256", "kid": key.thumbprint(), "typ": "logout+jwt"}
    token = jose_jwt.JWT(header=header, claims=json.dumps(claims))
    token.make_signed_token(key)
    return HttpResponse(token.serialize(), content_type="application/jwt")


def who(request):
    from django.http import HttpResponse

    return HttpResponse(request.user.email if request.user.is_authenticated else "")


def _csrf_exempt(view):
    view.csrf_exempt = True
    return view


def _validator():
    from oauth2_provider.oauth2_validators import OAuth2Validator

    class Validator(OAuth2Validator):
        oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "xms_edov": "email"}  # with the address

        def get_additional_claims(self, request):
            user = request.user
            verified = "xms_edov" if user.is_superuser else "email_verified"  # as Entra ID names it
            return {"email": user.email, verified: user.last_name != "no", "name": user.first_name}

        def get_id_token_dictionary(self, token, token_handler, request):
            claims, expires = super().get_id_token_dictionary(token, token_handler, request)
            if request.user.is_staff:  # as some providers do: the address only at the userinfo endpoint
                claims.pop("email", None)
                claims.pop("email_verified", None)
            return claims, expires

    return Validator


def __getattr__(name):
    if name == "Validator":  # built once Django is set up (it imports the provider's models)
        return _validator()
    if name == "urlpatterns":
        return [
            path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
            path("test-login/", _csrf_exempt(test_login)),
            path("test-register/", _csrf_exempt(register_portal)),
            path("who/", who),
            path("test-logout-token/", _csrf_exempt(logout_token)),
        ]
    raise AttributeError(name)


if __name__ == "__main__":
    main()
