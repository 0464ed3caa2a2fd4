"""Notifications a recipient can check: each carries a code that /check/ recognises.

Look-alike "you have a secure message" emails are the best-known lure of this kind of product. The
code in a real notification tells, at this portal's own address, when it was sent, by whom and to
which (masked) address, and whether the message is still there; never its subject or content.
"""

import ipaddress

from accounts.tokens import ALPHABET, compact, grouped, random_code
from accounts.tokens import keyed_hash as _keyed_hash

from . import limits
from .models import Availability, Notification
from .reading import mask_address, sender_display

LENGTH = 8


def new_check_code():
    """(the code to print in the email, e.g. 'k7qd-2wxm'; the keyed hash to store)."""
    plain = random_code(LENGTH)
    return grouped(plain), keyed_hash(plain)


def keyed_hash(typed):
    return _keyed_hash("messaging.check_code", typed)


def looks_like_a_code(typed):
    text = compact(typed or "")
    return len(text) == LENGTH and all(c in ALPHABET for c in text)


def facts(typed):
    """What the portal can say of the notification with this code, or None when it sent no such email."""
    if not looks_like_a_code(typed):
        return None
    notification = (
        Notification.objects.select_related("recipient__message__sender_user", "recipient")
        .filter(check_hash=keyed_hash(typed), sent_at__isnull=False)
        .first()
    )
    if notification is None:
        return None
    recipient = notification.recipient
    message = recipient.message
    if message.availability == Availability.EXPIRED:
        return None  # an old code proves nothing any more: a copied email stops being confirmed
    return {
        "sent_at": notification.sent_at,
        "sender": sender_display(message),
        "to": mask_address(recipient.address),
        "available": recipient.is_open,
    }


def guess_keys(ip):
    """What wrong codes are counted under: the client (an IPv6 client by its /64, within which it may
    change its address at will) and everyone together (a ceiling no spread of addresses passes)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        address = None
    if address is None:
        client = "unknown"
    elif address.version == 6 and address.ipv4_mapped is None:
        client = str(ipaddress.ip_network(f"{address}/64", strict=False))
    else:
        client = str(getattr(address, "ipv4_mapped", None) or address)
    return [(limits.Scope.CHECK, client), (limits.Scope.CHECK_ALL, "*")]
