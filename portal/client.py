"""Who is on the other end of a request: the one place that reads the client's address.

Behind a load balancer every connection comes from the balancer; only when it comes from a network
named in TRUSTED_PROXIES is its X-Forwarded-For believed, and then only up to the first address that
is not itself a trusted proxy. From anywhere else the header is ignored: a client cannot choose the
address its guesses are counted under.
"""

import functools
import ipaddress
from dataclasses import dataclass

from django.conf import settings


@functools.cache
def _networks(networks):
    return tuple(ipaddress.ip_network(network, strict=False) for network in networks)


def address_in(address, networks):
    """Whether the address (text) is in one of the networks (texts such as '10.0.0.0/8'); False for what is
    not an address. The one place that answers it: trusted proxies, metrics, the intake, API keys."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(networks)))


UNIX_SOCKET = "unix"  # in TRUSTED_PROXIES: a peer on gunicorn's unix socket, which has no address


def _is_trusted(address):
    proxies = settings.TRUSTED_PROXIES
    if address == "":
        return UNIX_SOCKET in proxies
    return address_in(address, [proxy for proxy in proxies if proxy != UNIX_SOCKET])


def _valid(address):
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return ""


def client_is_a_trusted_proxy(request):
    return bool(settings.TRUSTED_PROXIES) and _is_trusted(request.META.get("REMOTE_ADDR", ""))


def client_ip(request):
    """The client's IP address as text ('' when unknown)."""
    peer = request.META.get("REMOTE_ADDR", "")
    if not settings.TRUSTED_PROXIES or not _is_trusted(peer):
        return _valid(peer)
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop):
            return _valid(hop)
    # Every hop is a proxy of ours (or the header is missing): the nearest one is all we know.
    return _valid(hops[0]) if hops else _valid(peer)


@dataclass(frozen=True)
class Client:
    """The client an action came from, for its audit record ('' when it came from a command)."""

    ip: str = ""
    user_agent: str = ""

    @classmethod
    def of(cls, request):
        return cls(ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:1000])


COMMAND_LINE = Client(user_agent="manage.py")
