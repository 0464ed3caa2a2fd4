"""The sign-in methods' old import path, kept for code written against it (STYLE.md's examples, earlier
test suites): they live in `accounts.methods` now, which the portal itself uses everywhere."""

import sys

from ..methods import cloud, network, saml

for _name, _module in {"cloud": cloud, "network": network, "saml": saml}.items():
    sys.modules[f"{__name__}.{_name}"] = _module
