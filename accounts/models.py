"""Who may log in, and how: users, their aliases, authentication profiles and the login audit log."""

import hashlib
import logging
import re

from django.conf import settings
from django.contrib.auth.models import (
    AbstractBaseUser,
    BaseUserManager,
    Group,
    Permission,
    PermissionsMixin,
)
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from portal import audit, branding
from portal.client import Client, client_ip
from portal.logging import without_link_tokens
from portal.models import Outbox

from . import registry, tokens
from .troubleshooting import Reason, describe_browser, explanation_for_log

log = logging.getLogger("portal.login")

APP_LABEL = "accounts"
PORTAL_CODENAME = "access_portal"
PORTAL_PERMISSION = f"{APP_LABEL}.{PORTAL_CODENAME}"  # what user.has_perm asks


def normalize_address(address):
    """Addresses are compared and stored lower-cased, without surrounding space."""
    return (address or "").strip().lower()


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **fields):
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=normalize_address(email), **fields)
        user.set_password(password)  # None gives an unusable password: no cloud password yet
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True, kind=User.Kind.INTERNAL)
        return self.create_user(email, password, **fields)

    def with_portal_access(self):
        """Users annotated with `portal_access`: the portal permission, given directly or through a group."""
        held = Permission.objects.filter(codename=PORTAL_CODENAME, content_type__app_label=APP_LABEL)
        return self.annotate(
            portal_access=Exists(held.filter(user=OuterRef("pk")))
            | Exists(held.filter(group__user=OuterRef("pk")))
        )

    def signed_in(self, pk):
        """The user of a session, with `portal_access`: every page asks for it."""
        try:
            pk = self.model._meta.pk.to_python(pk)
        except ValidationError:
            return None
        return self._with_access("u.id = %s", pk)

    def _with_access(self, condition, value):
        """One user with `portal_access`, in one query written out: building the same query with the
        ORM each time cost more than running it."""
        user_table = self.model._meta.db_table
        direct = self.model.user_permissions.through._meta.db_table
        groups = self.model.groups.through._meta.db_table
        group_permissions = Group.permissions.through._meta.db_table
        sql = (
            f"SELECT u.*, (EXISTS (SELECT 1 FROM {direct} d JOIN auth_permission p ON p.id = d.permission_id"  # noqa: S608
            f" JOIN django_content_type c ON c.id = p.content_type_id WHERE d.user_id = u.id"
            f" AND p.codename = %s AND c.app_label = %s)"
            f" OR EXISTS (SELECT 1 FROM {groups} g JOIN {group_permissions} gp ON gp.group_id = g.group_id"
            f" JOIN auth_permission p ON p.id = gp.permission_id JOIN django_content_type c"
            f" ON c.id = p.content_type_id WHERE g.user_id = u.id AND p.codename = %s"
            f" AND c.app_label = %s)) AS portal_access FROM {user_table} u WHERE {condition}"
        )
        found = list(self.raw(sql, [PORTAL_CODENAME, APP_LABEL, PORTAL_CODENAME, APP_LABEL, value]))
        if not found:
            return None
        found[0].portal_access = bool(found[0].portal_access)
        return found[0]

    def get_by_natural_key(self, username):
        return self.get(email=normalize_address(username))

    def find_by_address(self, address):
        """The user an address belongs to, by primary address or alias: (user or None, via_alias)."""
        address = normalize_address(address)
        user = self._with_access("u.email = %s", address)  # the login's permit step needs to know too
        if user is not None:
            return user, False
        alias = EmailAlias.objects.select_related("user").filter(email=address).first()
        if alias is not None:
            return alias.user, True
        return None, False


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: staff of the organisation, or an external recipient of messages."""

    class Kind(models.TextChoices):
        INTERNAL = "internal", _("Staff (internal)")
        EXTERNAL = "external", _("External recipient")

    email = models.EmailField(_("email address"), unique=True, help_text=_("Primary SMTP address."))
    name = models.CharField(_("name"), max_length=150, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind, default=Kind.INTERNAL)
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(
        _("administrator"), default=False, help_text=_("May sign in to the Django admin.")
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    auth_profile = models.ForeignKey(
        "AuthProfile",
        verbose_name=_("authentication profile"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="users",
        help_text=_("Leave empty to use the profile of the address's domain, or the default."),
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("The language they last used on the portal: their emails are written in it."),
    )
    must_change_password = models.BooleanField(_("must change password"), default=False)

    temporary_password = models.CharField(
        _("temporary password (hash)"),
        max_length=128,
        blank=True,
        help_text=_("Pending until first used; the current password keeps working until then."),
    )
    temporary_password_expires_at = models.DateTimeField(
        _("temporary password expires at"), null=True, blank=True
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [(PORTAL_CODENAME, _("Can access the personal portal"))]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = normalize_address(self.email)
        if EmailAlias.objects.filter(email=self.email).exclude(user_id=self.pk).exists():
            raise ValidationError({"email": _("This address is already another user's alias.")})

    def save(self, *args, **kwargs):
        self.email = normalize_address(self.email)
        super().save(*args, **kwargs)

    def get_full_name(self):
        return self.name or self.email

    def get_short_name(self):
        return self.name.split(" ")[0] if self.name else self.email

    @property
    def is_external(self):
        return self.kind == self.Kind.EXTERNAL

    def profile(self):
        """The authentication profile that applies: the user's own, else by domain, else default
        (looked up once for this instance: a login asks several times)."""
        if self.auth_profile_id:
            if "auth_profile" not in self._state.fields_cache:
                own = [p for p in AuthProfile.objects.cached() if p.pk == self.auth_profile_id]
                self.auth_profile = own[0] if own else AuthProfile.objects.get(pk=self.auth_profile_id)
            return self.auth_profile
        if getattr(self, "_domain_profile", None) is None:
            self._domain_profile = AuthProfile.objects.for_address(self.email)
        return self._domain_profile

    def may_use_portal(self):
        """Staff need the portal permission, directly or through a group (one query, or none when the
        user was loaded with it: `User.objects.with_portal_access()`)."""
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        if getattr(self, "portal_access", None) is None:
            self.portal_access = (
                User.objects.with_portal_access().filter(pk=self.pk, portal_access=True).exists()
            )
        return self.portal_access

    def is_portal_staff(self):
        """Staff with the portal permission: who composes, acts through an API key, stays signed in."""
        return not self.is_external and self.may_use_portal()


def portal_permission():
    """The `accounts.access_portal` permission that staff need."""
    return Permission.objects.get(codename=PORTAL_CODENAME, content_type__app_label=APP_LABEL)


class EmailAlias(models.Model):
    """Another address of a user; signing in with it signs in the user's primary address."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="aliases")
    email = models.EmailField(_("alias address"), unique=True)

    class Meta:
        verbose_name = _("email alias")
        verbose_name_plural = _("email aliases")

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        self.email = normalize_address(self.email)
        super().save(*args, **kwargs)

    def clean(self):
        self.email = normalize_address(self.email)
        if User.objects.filter(email=self.email).exists():
            raise ValidationError({"email": _("This address is already a user's primary address.")})


class ProviderIdentity(models.Model):
    """The account's subject at an OpenID provider (`iss`, `sub`), linked at its first sign-in there.

    An address can move at a provider (renamed, reused, or set by a tenant's own administrator); the
    subject does not. So once linked, the account signs in only as that subject, and that subject only
    as this account, until an administrator forgets the link (accounts.actions).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="provider_identities")
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(pgettext_lazy("OpenID Connect", "subject"), max_length=255)
    linked_at = models.DateTimeField(_("linked at"), default=timezone.now)

    class Meta:
        verbose_name = _("identity at a provider")
        verbose_name_plural = _("identities at providers")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="one_account_per_provider_subject"),
            models.UniqueConstraint(fields=["user", "issuer"], name="one_subject_per_account_and_provider"),
        ]

    def __str__(self):
        return f"{self.subject} @ {self.issuer}"


class AuthProfileQuerySet(models.QuerySet):
    """Every request of a login asks for a profile, some twice: the table is small and read from the
    shared cache, dropped whenever a profile is saved, updated or deleted through Django."""

    CACHE_SECONDS = 600  # and a change made beside Django (raw SQL) is seen within ten minutes

    def cached(self):
        """All profiles, as saved instances, from the cache when it holds them (else one query)."""
        names = _profile_columns()
        key = _profiles_cache_key(names)
        try:
            rows = cache.get(key)
        except Exception:  # a copy this version cannot read: read the database
            rows = None
        if not isinstance(rows, list):
            rows = list(self.model.objects.values_list(*names))
            cache.set(key, rows, self.CACHE_SECONDS)
        return [self.model.from_db(self.db, names, row) for row in rows]

    def update(self, **kwargs):
        """A bulk update sends no signal: the cached copy is dropped here (deletes send post_delete)."""
        forget_profiles()
        return super().update(**kwargs)

    def for_address(self, address):
        """The profile for an address's domain, else the default one, else the built-in default."""
        domain = normalize_address(address).rpartition("@")[2]
        profiles = self.cached()
        for profile in profiles:
            if domain and domain in profile.domain_list():
                return profile
        for profile in profiles:
            if profile.is_default:
                return profile
        return AuthProfile(name="Built-in default", is_default=True)


class MethodKey(models.TextChoices):
    """The sign-in methods (see accounts.methods): kept in profiles, in order, and in login attempts."""

    CLOUD = "cloud", _("Cloud password")
    NETWORK = "network", _("Network password")
    SAML = "saml", _("SAML single sign-on")
    PASSKEY = "passkey", _("Passkey")
    EMAIL_CODE = "email_code", _("Code by email")
    OIDC = "oidc", _("OpenID Connect")


class AuthProfile(models.Model):
    """What the administrator configures: how the people it applies to sign in."""

    Method = MethodKey

    name = models.CharField(_("name"), max_length=100, unique=True)
    domains = models.TextField(
        _("email domains"),
        blank=True,
        help_text=_("The domains this profile applies to, one per line or comma-separated."),
    )
    is_default = models.BooleanField(
        _("default profile"),
        default=False,
        help_text=_("Applies to every address whose domain no other profile names."),
    )
    methods = models.CharField(
        _("sign-in methods"),
        max_length=100,
        default=MethodKey.CLOUD,
        help_text=_(
            "Comma-separated, in the order they are tried: cloud, network, saml, passkey, email_code. "
            "For example “network, cloud” or “saml, passkey”."
        ),
    )
    require_two_step = models.BooleanField(_("require two-step authentication"), default=False)
    allow_self_service_password = models.BooleanField(
        _("allow self-service cloud passwords"),
        default=True,
        help_text=_("People may set up or reset their cloud password through a forgotten-password email."),
    )
    temporary_password_hours = models.PositiveSmallIntegerField(
        _("temporary password valid for (hours)"), default=24
    )
    session_minutes = models.PositiveIntegerField(_("session length (minutes)"), default=480)
    message_expiry_days = models.PositiveSmallIntegerField(
        _("messages available for (days)"),
        choices=[(1, _("1 day")), (7, _("7 days")), (30, _("30 days"))],
        default=30,
        help_text=_("What the compose page preselects for its people's secure messages."),
    )
    support_contact = models.CharField(
        _("support contact"),
        max_length=200,
        blank=True,
        help_text=_(
            "Whom its people contact when they cannot log in, e.g. “IT service desk, help@corp.example, "
            "+44 20 7946 0000”. Empty: the server's SUPPORT_CONTACT."
        ),
    )

    objects = AuthProfileQuerySet.as_manager()

    class Meta:
        verbose_name = _("authentication profile")
        verbose_name_plural = _("authentication profiles")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_profile"
            ),
            models.CheckConstraint(condition=Q(session_minutes__gt=0), name="session_minutes_positive"),
        ]

    def __str__(self):
        return self.name

    def domain_list(self):
        return [d for d in re.split(r"[\s,;]+", self.domains.lower()) if d]

    def method_list(self):
        return [key.strip() for key in self.methods.split(",") if key.strip()]

    def allows(self, method):
        return method in self.method_list()

    def contact(self):
        """Whom the people of this profile ask for help (the profile's, else the branding's or server's)."""
        return self.support_contact or branding.support_contact()

    def names_domain_of(self, address):
        return normalize_address(address).rpartition("@")[2] in self.domain_list()

    def clean(self):
        self.domains = "\n".join(self.domain_list())
        keys = self.method_list()
        unknown = [key for key in keys if key not in registry.REGISTRY]
        if unknown or not keys or len(set(keys)) != len(keys):
            raise ValidationError(
                {
                    "methods": _("Name each method once, from: %(keys)s.")
                    % {"keys": ", ".join(method.key for method in registry.all_methods())}
                }
            )
        self.methods = ",".join(keys)
        off = [str(registry.get(key).service_label) for key in keys if not registry.get(key).enabled()]
        if off:
            message = _(
                "Not set up on this server: %(methods)s. Nobody this profile applies to could sign in."
            )
            raise ValidationError({"methods": message % {"methods": ", ".join(off)}})
        taken = {
            domain: other.name
            for other in AuthProfile.objects.exclude(pk=self.pk)
            for domain in other.domain_list()
        }
        clashes = sorted(d for d in self.domain_list() if d in taken)
        if clashes:
            raise ValidationError(
                {
                    "domains": _("Already in another profile: %(domains)s")
                    % {"domains": ", ".join(f"{d} ({taken[d]})" for d in clashes)}
                }
            )


def _profile_columns():
    return [field.attname for field in AuthProfile._meta.concrete_fields]


def _profiles_cache_key(names):
    """Versioned by the columns, so a copy written by another version of the portal is not read."""
    return "accounts:profiles:" + hashlib.sha256(",".join(names).encode()).hexdigest()[:12]


def forget_profiles(**_signal):
    """Every process reads the profiles again; again after the commit, so that a read between the two
    cannot keep the old ones."""
    key = _profiles_cache_key(_profile_columns())
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


models.signals.post_save.connect(forget_profiles, sender=AuthProfile, dispatch_uid="forget_profiles_saved")
models.signals.post_delete.connect(forget_profiles, sender=AuthProfile, dispatch_uid="forget_profiles_gone")


def new_reference():
    """A short code a person can read out to support, e.g. K7Q2-9XWD (upper case reads better aloud)."""
    return tokens.grouped(tokens.random_code(8, tokens.ALPHABET.upper()))


class LoginAttempt(models.Model):
    """One row per login attempt: what support reads to learn why someone could not sign in."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Success")
        FAILURE = "failure", _("Failure")

    Reason = Reason  # accounts.troubleshooting.Reason: each with its plain words and fix there

    # What an attempt was proved with: a profile's method, or the two-step code that follows one.
    TWO_STEP = "two_step"
    METHODS = [*MethodKey.choices, (TWO_STEP, _("Two-step"))]

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    email_entered = models.CharField(_("email entered"), max_length=254, db_index=True)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="login_attempts"
    )
    method = models.CharField(_("method"), max_length=20, blank=True, choices=METHODS)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome)
    reason = models.CharField(_("reason"), max_length=40, choices=Reason, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    alias_used = models.BooleanField(_("alias used"), default=False)
    reference = models.CharField(_("reference"), max_length=9, db_index=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.TextField(_("user agent"), blank=True)
    browser = models.CharField(_("browser"), max_length=100, blank=True)
    url = models.CharField(_("URL"), max_length=2000, blank=True)

    class Meta:
        verbose_name = _("login attempt")
        verbose_name_plural = _("login attempts")
        ordering = ["-at"]

    def __str__(self):
        return f"{self.reference} {self.email_entered} {self.outcome}"

    @classmethod
    def record(
        cls, request, *, email, outcome, reason="", user=None, method="", detail="", alias_used=False, url=""
    ):
        """The only writer of login attempts (and their `login.*` audit events); also writes one structured
        log line (no secrets)."""
        user_agent = request.META.get("HTTP_USER_AGENT", "")[:1000]
        attempt = cls.objects.create(
            email_entered=normalize_address(email)[:254],
            user=user,
            method=method,
            outcome=outcome,
            reason=reason,
            detail=detail,
            alias_used=alias_used,
            reference=new_reference(),
            ip=client_ip(request) or None,
            user_agent=user_agent,
            browser=describe_browser(user_agent),
            url=without_link_tokens(url or request.build_absolute_uri())[:2000],
        )
        success = outcome == cls.Outcome.SUCCESS
        audit.record(
            audit.Event.LOGIN_SUCCEEDED if success else audit.Event.LOGIN_FAILED,
            actor=user if success else (user.email if user is not None else attempt.email_entered),
            client=Client(ip=attempt.ip or ""),
            subject=user,
            address=attempt.email_entered if attempt.email_entered != getattr(user, "email", "") else None,
            method=method,
            reason=reason,
            reference=attempt.reference,
            browser=attempt.browser,
        )
        explanation = explanation_for_log(reason)
        template = "event=login_%s reason=%s method=%s reference=%s"
        log.info(
            template + (' explanation="%s"' if explanation else ""),
            "succeeded" if success else "failed",
            reason or "-",
            method or "-",
            attempt.reference,
            *([explanation] if explanation else []),
        )
        return attempt


# Every scope a Throttle row counts under, with its label: the sign-in's own (Throttle.Scope) and
# those other apps count (accounts.throttle.register adds them).
THROTTLE_SCOPES = {}


def throttle_scopes():
    return list(THROTTLE_SCOPES.items())


class Throttle(models.Model):
    """Failed guesses (or an allowance used) counted per key, shared by every server process.

    A guess reserves a slot before any hashing (so parallel guesses are counted exactly);
    a success gives it back. Reaching the limit locks the key until `locked_until`.
    """

    class Scope(models.TextChoices):
        ADDRESS = "address", _("Email address")
        CLIENT = "client", _("Client IP address")
        CODE = "code", _("Sign-in codes emailed to an address")

    scope = models.CharField(_("scope"), max_length=20, choices=throttle_scopes)
    key = models.CharField(_("address or IP"), max_length=254)
    window_start = models.DateTimeField(_("counting since"), default=timezone.now)
    failures = models.PositiveIntegerField(_("failures"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.CharField(_("lifted by"), max_length=254, blank=True)

    class Meta:
        verbose_name = _("lockout")
        verbose_name_plural = _("lockouts")
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="one_throttle_per_key")]

    def __str__(self):
        return f"{self.get_scope_display()} {self.key}"

    @property
    def is_locked(self):
        return bool(self.locked_until and self.locked_until > timezone.now())


class OutboxFields(Outbox):
    """A row that may be the outbox of its email (see accounts.mail.send_from_outbox): no next attempt
    when there is no email to send."""

    next_attempt_at = models.DateTimeField(
        _("next attempt at"), null=True, blank=True, db_index=True, help_text=_("Empty: no email.")
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        abstract = True


class PasswordHelpRequest(OutboxFields):
    """One row per forgotten-password request: what was sent (or why nothing was).

    The page only writes the row (QUEUED); the notification worker finds the account and decides.
    """

    class Outcome(models.TextChoices):
        QUEUED = "queued", _("Waiting for the notification worker")
        TEMPORARY_PASSWORD = "temporary_password", _("Temporary password sent")
        NETWORK_PASSWORD = "network_password", _("Told to use the network password")
        SINGLE_SIGN_ON = "single_sign_on", _("Told to use single sign-on")
        ASK_ADMINISTRATOR = "ask_administrator", _("Told to ask the administrator")
        UNKNOWN_ADDRESS = "unknown_address", _("Nothing sent: no such account")
        LIMITED = "limited", _("Nothing sent: too many requests")

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    email_entered = models.CharField(_("email entered"), max_length=254, db_index=True)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="password_requests"
    )
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    requested_by = models.CharField(
        _("requested by"), max_length=254, blank=True, help_text=_("An administrator, if not the person.")
    )

    class Meta:
        verbose_name = _("password help request")
        verbose_name_plural = _("password help requests")
        ordering = ["-at"]

    def __str__(self):
        return f"{self.email_entered} {self.outcome}"


class LoginCode(OutboxFields):
    """A one-time code emailed to a recipient who came through a message link (accounts.methods.email_code).

    The row is its email's outbox: the code is made, and only its keyed hash kept, when the email goes.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="login_codes")
    address = models.EmailField(_("sent to"))
    code_hash = models.CharField(_("code (keyed hash)"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    tries = models.PositiveSmallIntegerField(_("tries"), default=0)
    used_at = models.DateTimeField(_("used or voided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("emailed sign-in code")
        verbose_name_plural = _("emailed sign-in codes")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.address} {self.created_at:%Y-%m-%d %H:%M}"


class Passkey(models.Model):
    """A WebAuthn credential of a person's device (accounts.methods.passkey): its public key only."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    name = models.CharField(_("name"), max_length=100)
    credential_id = models.CharField(_("credential ID"), max_length=1400, unique=True)
    public_key = models.BinaryField(_("public key (COSE)"))
    sign_count = models.PositiveBigIntegerField(_("signature counter"), default=0)
    user_verified = models.BooleanField(_("verifies its user"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("passkey")
        verbose_name_plural = _("passkeys")
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.name} ({self.user})"


class SignedInSession(models.Model):
    """Where a person is logged in: one row per session (the Security page lists them, ends them)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="signed_in_sessions")
    session_key = models.CharField(_("session key"), max_length=40, unique=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    browser = models.CharField(_("browser"), max_length=100, blank=True)
    signed_in_at = models.DateTimeField(_("logged in at"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    # Who the identity provider signed in ("saml:<NameID>", "oidc:<sub>"): its single logout finds it.
    provider_subject = models.CharField(
        _("identity provider's subject"), max_length=300, blank=True, db_index=True
    )

    class Meta:
        verbose_name = _("signed-in session")
        verbose_name_plural = _("signed-in sessions")
        ordering = ["-last_seen_at"]

    def __str__(self):
        return f"{self.user} {self.browser} {self.ip or ''}".strip()
