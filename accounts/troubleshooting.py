"""The facts a person passes on to support when a login fails: URL, address, time, browser."""

import re

# Order matters: Edge and Opera also say "Chrome", and Chrome also says "Safari".
_BROWSERS = [
    ("Edge", r"Edg(?:e|A|iOS)?/(\d+)"),
    ("Opera", r"OPR/(\d+)"),
    ("Samsung Internet", r"SamsungBrowser/(\d+)"),
    ("Firefox", r"(?:Firefox|FxiOS)/(\d+)"),
    ("Chromium", r"Chromium/(\d+)"),
    ("Chrome", r"(?:HeadlessChrome|Chrome|CriOS)/(\d+)"),
    ("Safari", r"Version/(\d+)[\d.]* (?:Mobile/\S+ )?Safari/"),
    ("Internet Explorer", r"(?:MSIE |Trident/.*rv:)(\d+)"),
]
_SYSTEMS = [
    ("Android", r"Android"),
    ("iOS", r"iPhone|iPad|iPod"),
    ("Windows", r"Windows"),
    ("macOS", r"Macintosh|Mac OS X"),
    ("ChromeOS", r"CrOS"),
    ("Linux", r"Linux"),
]
# Browsers the portal does not support: their users are told so on the login page.
UNSUPPORTED = {"Internet Explorer"}


def parse_browser(user_agent):
    """(name, major version, operating system) from a User-Agent header; unknown parts are ''."""
    user_agent = user_agent or ""
    name = version = system = ""
    for candidate, pattern in _BROWSERS:
        match = re.search(pattern, user_agent)
        if match:
            name, version = candidate, match.group(1)
            break
    for candidate, pattern in _SYSTEMS:
        if re.search(pattern, user_agent):
            system = candidate
            break
    return name, version, system


def describe_browser(user_agent):
    """A short human description such as 'Firefox 128 on Windows'."""
    name, version, system = parse_browser(user_agent)
    if not name:
        return "Unknown browser"
    text = f"{name} {version}"
    return f"{text} on {system}" if system else text


def is_supported_browser(user_agent):
    name, _version, _system = parse_browser(user_agent)
    return name not in UNSUPPORTED
