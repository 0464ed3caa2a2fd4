"""The sign-in methods' old import path: they live in `accounts.methods` now."""

import sys

from ..methods import cloud, network, saml

for _name, _module in {"cloud": cloud, "network": network, "saml": saml}.items():
    sys.modules[f"{__name__}.{_name}"] = _module
