"""`Authorization: Bearer <key>`: the key's account is the request's user, the key its auth."""

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from portal.client import client_ip

from . import keys
from .models import ApiKey


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        kind, _space, presented = header.partition(" ")
        if kind.lower() != "bearer" or not presented.strip():
            raise exceptions.AuthenticationFailed(_("Send the key as Authorization: Bearer <key>."))
        row = keys.find(presented.strip())
        ip = client_ip(request)
        if row is None or not keys.allows_client(row, ip):
            raise exceptions.AuthenticationFailed(
                _("The key is unknown, revoked, expired or not for this network.")
            )
        account = row.account
        if not account.is_portal_staff():
            raise exceptions.AuthenticationFailed(_("The key's account may not use the portal."))
        now = timezone.now()
        if (
            row.last_used_at is None
            or (now - row.last_used_at).total_seconds() > 60
            or row.last_used_ip != ip
        ):
            ApiKey.objects.filter(pk=row.pk).update(last_used_at=now, last_used_ip=ip or None)
        request._request.api_key = row
        return account, row

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
