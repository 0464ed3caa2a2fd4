"""API keys: made with 256 random bits, shown once, kept only as their SHA-256; revoked, expiring,
limited to networks; every key acts as one staff account with that account's rights."""

import ipaddress
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import actions as account_actions
from accounts import tokens
from portal import audit
from portal.client import address_in

from .models import ApiKey, Scope

PREFIX = "spk_"
AUDIT_READ = "portal.view_auditevent"  # secure portal key: recognisable in logs and by secret scanners


digest = tokens.token_hash


def make(actor, client, *, name, account, scopes, expires_at=None, allowed_networks=""):
    """A new key: returns (ApiKey, the key itself, shown this once). The key acts as `account`, which
    must be staff with the portal permission, and the actor must have power over that account."""
    account_actions.check(actor, account_actions.CHANGE_USER, account)
    if not account.is_portal_staff():
        raise account_actions.Refused(_("An API key acts as a staff account that may use the portal."))
    if Scope.AUDIT in scopes and not audit.is_trusted(actor) and not actor.has_perm(AUDIT_READ):
        # The trail is everyone's history: nobody hands out a key to it who may not read it.
        raise account_actions.Refused(
            _("Only an administrator who may read the audit trail makes a key for it.")
        )
    unknown = [s for s in scopes if s not in Scope.values]
    if unknown or not scopes:
        raise account_actions.Refused(
            _("Name the scopes from: %(scopes)s.") % {"scopes": ", ".join(Scope.values)}
        )
    for network in allowed_networks.replace(",", "\n").split():
        ipaddress.ip_network(network, strict=False)  # ValueError for a network that is none
    secret = secrets.token_urlsafe(tokens.TOKEN_BYTES)
    key = f"{PREFIX}{secret}"
    _name, by = audit.actor_fields(actor)
    with transaction.atomic():
        row = ApiKey.objects.create(
            name=name, account=account, prefix=key[: len(PREFIX) + 6], key_hash=digest(key),
            scopes=",".join(scopes), expires_at=expires_at, allowed_networks=allowed_networks, created_by=by,
        )  # fmt: skip
        audit.record(
            audit.Event.API_KEY_CREATED, actor=actor, client=client, subject=account, key=name, scopes=scopes
        )
    return row, key


def revoke(actor, client, row):
    account_actions.check(actor, account_actions.CHANGE_USER, row.account)
    with transaction.atomic():
        if ApiKey.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            audit.record(
                audit.Event.API_KEY_REVOKED, actor=actor, client=client, subject=row.account, key=row.name
            )


def find(key):
    """The usable key for what a request presented, or None."""
    if not key or not key.startswith(PREFIX) or len(key) > 200:
        return None
    row = ApiKey.objects.select_related("account").filter(key_hash=digest(key)).first()
    return row if row is not None and row.is_usable else None


def allows_client(row, ip):
    networks = row.network_list()
    return not networks or address_in(ip, networks)


class KeyActor:
    """The actor of what a key does: its account's rights, its own name in the audit trail."""

    def __init__(self, key):
        self.key, self.audit_account = key, key.account

    def __getattr__(self, name):
        return getattr(self.audit_account, name)

    @property
    def audit_name(self):
        return self.key.audit_name
