"""What helps a person who cannot log in, and their support: the browser, the browser matrix,
and each failure reason in plain words with what to do about it."""

from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from ua_parser import BasicResolver, Cache, CachingResolver, Domain, Parser, load_lazy_builtins

# ua-parser's rules run by Python's `re`, each compiled when first tried, with the browsers seen lately
# cached: about 1 MiB in each web worker. Its default engine (Rust regexes, every rule compiled at the
# first parse) kept 26 MiB in each; an uncached parse costs about 1 ms here, a cached one nothing.
_parser = Parser(CachingResolver(BasicResolver(load_lazy_builtins()), Cache(2000)))

# ua-parser's names, as people know them.
_NAMES = {"HeadlessChrome": "Chrome", "IE": "Internet Explorer", "Mac OS X": "macOS"}
# Browsers no longer maintained by their makers: refused support whatever the version.
RETIRED = {"IE", "IE Mobile"}


class Reason(models.TextChoices):
    """Why a login failed (or what was notable of a success): the audit code, never shown to the person;
    REASONS gives each its plain words for support."""

    NONE = "", _("(none)")
    BAD_PASSWORD = "bad_password", _("Wrong password")
    UNKNOWN_USER = "unknown_user", _("No account has this address")
    NO_CLOUD_PASSWORD = "no_cloud_password", _("The account has no cloud password")
    NO_PERMISSION = "no_permission", _("The account lacks the portal permission")
    WRONG_URL = "wrong_url", _("External recipient not using a message link")
    DIRECTORY_UNAVAILABLE = "directory_unavailable", _("The directory could not be reached")
    DIRECTORY_USER_NOT_FOUND = "directory_user_not_found", _("Not found in the directory")
    SAML_ERROR = "saml_error", _("Single sign-on failed")
    OIDC_ERROR = "oidc_error", _("OpenID Connect sign-in failed")
    PROVIDER_SUBJECT_CHANGED = "provider_subject_changed", _("Another account at the OpenID provider")
    TWO_STEP_FAILED = "two_step_failed", _("Wrong two-step code")
    TEMPORARY_PASSWORD_EXPIRED = "temporary_password_expired", _("Temporary password expired")
    LOCKED_OUT = "locked_out", _("Locked out after too many failures")
    METHOD_NOT_ALLOWED = "method_not_allowed", _("Method not allowed by the profile")
    INACTIVE = "inactive", _("The account is deactivated")
    ALIAS_USED = "alias_used", _("Signed in with an alias")
    BAD_CODE = "bad_code", _("Wrong, used or expired emailed code")
    PASSKEY_FAILED = "passkey_failed", _("The passkey's answer could not be verified")
    UNKNOWN_PASSKEY = "unknown_passkey", _("A passkey the portal does not know")
    PASSKEY_OF_ANOTHER = "passkey_of_another", _("A passkey of another account")
    PASSKEY_COUNTER = "passkey_counter", _("The passkey's counter went backwards (a copy?)")


class FixKey(StrEnum):
    """What the login doctor can set right for one address (accounts.diagnosis.FIXES does it)."""

    LIFT_LOCKOUT = "lift_lockout"
    GRANT_PERMISSION = "grant_permission"
    SEND_TEMPORARY_PASSWORD = "send_temporary_password"  # noqa: S105  (a fix, not a password)
    RESET_TWO_STEP = "reset_two_step"
    REACTIVATE = "reactivate"
    FORGET_PROVIDER_LINK = "forget_provider_link"


@dataclass(frozen=True)
class Browser:
    """A browser as the User-Agent names it; unknown parts are ''."""

    family: str
    major: str
    system: str

    @property
    def name(self):
        return _NAMES.get(self.family, self.family)

    def __str__(self):
        if not self.family or self.family == "Other":
            return str(_("Unknown browser"))
        text = f"{self.name} {self.major}".strip()
        if not self.system:
            return text
        return str(_("%(browser)s on %(system)s") % {"browser": text, "system": self.system})


def parse_browser(user_agent):
    """The browser of a User-Agent header, by ua-parser's maintained rules."""
    result = _parser(user_agent or "", Domain.USER_AGENT | Domain.OS)
    agent, system = result.user_agent, result.os
    family = agent.family if agent else ""
    major = agent.major or "" if agent else ""
    system_text = ""
    if system and system.family != "Other":
        system_name = _NAMES.get(system.family, system.family)
        # macOS reports 10.15 whatever its version: its number says nothing.
        with_version = system.major and system_name != "macOS"
        system_text = f"{system_name} {system.major}" if with_version else system_name
    return Browser(family, major, system_text)


def describe_browser(user_agent):
    """A short human description such as 'Firefox 128 on Windows 10'."""
    return str(parse_browser(user_agent))


@dataclass(frozen=True)
class SupportedBrowser:
    """One row of the browser matrix (settings.SUPPORTED_BROWSERS)."""

    name: str
    minimum: int
    families: tuple
    systems: tuple = ()

    def matches(self, browser):
        if browser.family not in self.families:
            return False
        return not self.systems or any(browser.system.startswith(s) for s in self.systems)


def browser_matrix():
    """The supported browsers and their minimum versions, from settings.SUPPORTED_BROWSERS."""
    return [
        SupportedBrowser(row["name"], row["minimum"], tuple(row["families"]), tuple(row.get("systems", ())))
        for row in settings.SUPPORTED_BROWSERS
    ]


class BrowserStatus(models.TextChoices):
    """What the portal says of a browser (the login pages, the browser page)."""

    SUPPORTED = "supported", _("Supported")
    OUTDATED = "outdated", _("Too old")
    RETIRED = "retired", _("No longer supported by its maker")
    UNKNOWN = "unknown", _("Not on the list")


def browser_support(user_agent):
    """(the browser, its status, its matrix row or None): supported, outdated, retired or unknown."""
    browser = parse_browser(user_agent)
    if browser.family in RETIRED:
        return browser, BrowserStatus.RETIRED, None
    for row in browser_matrix():
        if row.matches(browser):
            major = int(browser.major) if browser.major.isdigit() else 0
            status = BrowserStatus.SUPPORTED if major >= row.minimum else BrowserStatus.OUTDATED
            return browser, status, row
    return browser, BrowserStatus.UNKNOWN, None


def is_unsupported_browser(user_agent):
    """The login pages warn about a browser that is too old or retired (an unknown one may well work)."""
    return browser_support(user_agent)[1] in {BrowserStatus.OUTDATED, BrowserStatus.RETIRED}


@dataclass(frozen=True)
class ReasonHelp:
    """One failure reason in plain words: what happened, what to do, and the doctor's fix for it."""

    explanation: str
    what_to_do: str
    fix: str = ""


# Every reason code of LoginAttempt, once: the login doctor, the login attempts list and the log use it.
REASONS = {
    Reason.BAD_PASSWORD: ReasonHelp(
        _("The password typed is not the account's password."),
        _("The person uses “Forgot your password?”, or you send a temporary password."),
        FixKey.SEND_TEMPORARY_PASSWORD,
    ),
    Reason.UNKNOWN_USER: ReasonHelp(
        _("No account has this address, as its primary address or as an alias."),
        _("Check the address for typing mistakes; add the user, or an alias to an existing user."),
    ),
    Reason.NO_CLOUD_PASSWORD: ReasonHelp(
        _("The account has no cloud password yet."),
        _("Send a temporary password; the person chooses their own at the first login."),
        FixKey.SEND_TEMPORARY_PASSWORD,
    ),
    Reason.NO_PERMISSION: ReasonHelp(
        _("The account lacks the permission “Can access the personal portal”."),
        _("Grant the portal permission, directly or through a group."),
        FixKey.GRANT_PERMISSION,
    ),
    Reason.WRONG_URL: ReasonHelp(
        _("An external recipient tried to log in outside the link of a message sent to them."),
        _("The person opens the link in the notification email of their message."),
    ),
    Reason.DIRECTORY_UNAVAILABLE: ReasonHelp(
        _("The company directory could not be reached, or did not answer in time."),
        _("Check the directory server and the LDAP settings (“Check the company directory”)."),
    ),
    Reason.DIRECTORY_USER_NOT_FOUND: ReasonHelp(
        _("The company directory has no entry for this address."),
        _("Check the address, or the directory entry's mail attribute and the LDAP search base and filter."),
    ),
    Reason.SAML_ERROR: ReasonHelp(
        _("Single sign-on failed: the identity provider refused, or its answer could not be accepted."),
        _("Read the attempt's detail, and the identity provider (“Check single sign-on”)."),
    ),
    Reason.OIDC_ERROR: ReasonHelp(
        _("OpenID Connect failed: the provider refused, or its answer could not be accepted."),
        _("Read the attempt's detail, and the provider's settings (“Check single sign-on”)."),
    ),
    Reason.PROVIDER_SUBJECT_CHANGED: ReasonHelp(
        _(
            "The OpenID provider signed in another of its accounts than the one this address is linked to: "
            "the address moved at the provider, or someone else has it there."
        ),
        _(
            "Make sure the provider's account is the person's; then forget the link, and the next sign-in "
            "links the account the provider signs in."
        ),
        FixKey.FORGET_PROVIDER_LINK,
    ),
    Reason.TWO_STEP_FAILED: ReasonHelp(
        _("The two-step code was wrong or already used."),
        _("The person checks their phone's clock or uses a backup code; after a lost phone, reset two-step."),
        FixKey.RESET_TWO_STEP,
    ),
    Reason.TEMPORARY_PASSWORD_EXPIRED: ReasonHelp(
        _("The temporary password had expired before it was used and changed."),
        _("Send a new temporary password."),
        FixKey.SEND_TEMPORARY_PASSWORD,
    ),
    Reason.LOCKED_OUT: ReasonHelp(
        _("Too many failed attempts: the address is locked for a while."),
        _("Wait for the lock to run out, or lift it once you know the attempts were the person's own."),
        FixKey.LIFT_LOCKOUT,
    ),
    Reason.METHOD_NOT_ALLOWED: ReasonHelp(
        _("The authentication profile allows no password method that the server offers."),
        _("Give the profile a sign-in method that is set up on this server."),
    ),
    Reason.INACTIVE: ReasonHelp(
        _("The account is deactivated."),
        _("Reactivate the account if the person should have access."),
        FixKey.REACTIVATE,
    ),
    Reason.BAD_CODE: ReasonHelp(
        _("The emailed code was wrong, already used, replaced by a newer one, or older than ten minutes."),
        _("The person asks for a new code and types the one in the newest email."),
    ),
    Reason.PASSKEY_FAILED: ReasonHelp(
        _("The passkey's answer could not be verified (another site, a changed challenge, no user check)."),
        _("The person tries again on the portal's own address, or signs in with their password."),
    ),
    Reason.UNKNOWN_PASSKEY: ReasonHelp(
        _("The browser offered a passkey the portal does not know (removed, or never added here)."),
        _("The person signs in with their password and adds the passkey again on the Security page."),
    ),
    Reason.PASSKEY_OF_ANOTHER: ReasonHelp(
        _("The passkey belongs to another account than the address being signed in."),
        _("The person chooses the passkey of this address, or signs in with their password."),
    ),
    Reason.PASSKEY_COUNTER: ReasonHelp(
        _("The passkey's signature counter went backwards: it may have been copied."),
        _("Remove that passkey from the user and ask the person to add a new one."),
    ),
    Reason.ALIAS_USED: ReasonHelp(
        _("The person signed in with an alias; the portal signed in its primary address."),
        _("Nothing: this is allowed."),
    ),
}


def reason_help(code):
    """The help for a reason code (an empty one for a code without a row)."""
    return REASONS.get(code) or ReasonHelp("", "")


def explanation_for_log(code):
    """The explanation in English, for the log (which is read by operators, not by the person)."""
    with translation.override("en"):
        return str(reason_help(code).explanation)


@dataclass
class Check:
    """One line of the doctor's report. A problem names its reason code; `blocks` stops every login."""

    label: str
    text: str
    reason: str = ""
    fix: str = ""
    blocks: bool = False

    @property
    def ok(self):
        return not self.reason

    @property
    def help(self):
        return reason_help(self.reason)
