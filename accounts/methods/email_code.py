"""One-time codes by email, for recipients who came through a message link.

A recipient who opened a notification's link may ask for a code instead of a password (the server's
RECIPIENT_SIGN_IN, `code` or `either`, or a profile that lists `email_code`): six digits, valid ten
minutes, single use, five tries, bound to the link's address, counted by the guessing limits. The
page only writes an outbox row; the notification worker makes the code as the email goes, so that
only its keyed hash is ever stored, and a relay outage delays it without losing it.
"""

import hmac
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal import mail

from .. import throttle, tokens
from ..forms import VerificationCodeForm
from ..login.contract import LoginFailed, Redirect, Step, StepName
from ..models import LoginCode, MethodKey, Throttle
from ..troubleshooting import Check, Reason
from . import register
from .base import SignInMethod

DIGITS = 6
VALID_FOR = timedelta(minutes=10)
TRIES = 5


class Mode(StrEnum):
    """How an external recipient signs in on a message link (the setting RECIPIENT_SIGN_IN names one)."""

    PASSWORD = "password"  # noqa: S105  (the name of a way to sign in, not a password)
    CODE = "code"
    EITHER = "either"


def keyed_hash(code):
    return tokens.keyed_hash("accounts.login_code", code)


def mode(flow):
    """'code', 'either' or 'password' for this login: only a message link's login may use a code, and
    only an external recipient's: staff sign in as their profile says, always (a code would pass by
    their single sign-on, their directory and its checks)."""
    if not flow.state.scope:
        return Mode.PASSWORD
    account = flow.account()
    if account is None or not account.is_external:
        return Mode.PASSWORD
    chosen = Mode(settings.RECIPIENT_SIGN_IN)
    if chosen == Mode.PASSWORD and flow.profile().allows(MethodKey.EMAIL_CODE):
        return Mode.EITHER
    return chosen


def request_code(user, address):
    """Queue an email with a new code for the address; the earlier codes stop working. False when the
    address has asked too often this hour."""
    if not user.is_external:
        return False
    now = timezone.now()
    with transaction.atomic():
        if not throttle.take(Throttle.Scope.CODE, address):
            return False
        # A new code does not reset the wrong tries: it starts where the codes of the last minutes were.
        recent = LoginCode.objects.filter(address=address, created_at__gte=now - VALID_FOR)
        tries = recent.aggregate(most=Max("tries"))["most"] or 0
        LoginCode.objects.filter(address=address, used_at__isnull=True).update(used_at=now)
        LoginCode.objects.create(user=user, address=address, next_attempt_at=now, tries=tries)
    return True


def tries_left(address):
    """Wrong tries the newest sent code of the address still allows (0: none, or no usable code)."""
    code = (
        LoginCode.objects.filter(address=address, used_at__isnull=True, sent_at__isnull=False)
        .filter(expires_at__gt=timezone.now())
        .order_by("-created_at")
        .first()
    )
    return max(0, TRIES - code.tries) if code is not None else 0


def check_code(address, typed):
    """Whether `typed` is the newest code sent to the address, unused, in time and within its tries."""
    code = (
        LoginCode.objects.select_for_update()
        .filter(address=address, used_at__isnull=True, sent_at__isnull=False, expires_at__gt=timezone.now())
        .filter(tries__lt=TRIES)
        .order_by("-created_at")
        .first()
    )
    if code is None:
        return False
    code.tries += 1
    right = hmac.compare_digest(code.code_hash, keyed_hash(typed))
    if right or code.tries >= TRIES:
        code.used_at = timezone.now()
    code.save(update_fields=["tries", "used_at"])
    return right


def _code_email(row):
    """The email of an outbox row; the code is made now, and only its keyed hash kept."""
    user = row.user
    if not user.is_active or row.used_at:
        return None  # voided by a newer code, or the account went away
    plain = tokens.random_digits(DIGITS)
    row.code_hash, row.expires_at = keyed_hash(plain), timezone.now() + VALID_FOR  # saved once it is sent
    context = {"code": plain, "minutes": int(VALID_FOR.total_seconds() // 60), "address": row.address}
    return mail.build_email(row.address, "login_code", context, language=user.language)


OUTBOX = mail.register_outbox(mail.Outbox(LoginCode, _code_email, related=("user",)))


class CodeForm(VerificationCodeForm):
    """The two-step code's field, named for the email and with a digits keyboard on phones."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].label = gettext_lazy("Code from the email")
        self.fields["code"].widget.attrs["inputmode"] = "numeric"


class EmailCodeStep(Step):
    """'Email me a code': the code from the email instead of a password, for the link's address only."""

    name = StepName.EMAIL_CODE
    offer_template = "accounts/_offer_email_code.html"

    def applies(self, flow):
        if flow.state.user_id is not None or not flow.state.scope:
            return False
        chosen = mode(flow)
        return chosen == Mode.CODE or (chosen == Mode.EITHER and flow.state.chosen == self.name)

    def offered_on(self, flow, step_name):
        return (
            step_name == StepName.VERIFY
            and flow.state.scope
            and not flow.state.chosen
            and mode(flow) == Mode.EITHER
        )

    def show(self, flow, form=None, failure=None, notice=""):
        return flow.page(
            "accounts/login_email_code.html",
            form=form or CodeForm(),
            failure=failure,
            sent=flow.state.chosen == self.name,
            notice=notice,
            password_too=mode(flow) == Mode.EITHER,
        )

    def submit(self, flow, data):
        address, user = flow.state.scope["email"], flow.account()  # the link's address is the one typed
        if data.get("action") == "send":
            if user is None or not request_code(user, address):
                return self.show(
                    flow, notice=_("Too many codes were asked for this address. Please try again later.")
                )
            flow.state.chosen = self.name
            return self.show(flow, notice=_("A code is on its way to your email. It may take a minute."))
        if data.get("action") == Mode.PASSWORD and mode(flow) == Mode.EITHER:
            flow.state.chosen = ""
            return Redirect(reverse("accounts:login"))
        form = CodeForm(data)
        if not form.is_valid():
            return self.show(flow, form=form)
        ip = flow.ip()
        locked = LoginFailed(Reason.LOCKED_OUT, "at the emailed code", user=user, method=MethodKey.EMAIL_CODE)
        with throttle.guess(address, ip, user, locked=locked) as attempt:
            with transaction.atomic():
                right = check_code(address, form.cleaned_data["code"])
            attempt.right(right and user is not None)
        if not right or user is None:
            failure = LoginFailed(Reason.BAD_CODE, user=user, method=MethodKey.EMAIL_CODE)
            if user is not None and tries_left(address):
                # Mistyped: the code field again, with the same words as any failure, while tries remain.
                return self.show(flow, form=CodeForm(), failure=flow.refuse(failure))
            raise failure
        if not user.is_active:
            raise LoginFailed(Reason.INACTIVE, user=user, method=MethodKey.EMAIL_CODE)
        flow.proved(user, MethodKey.EMAIL_CODE)
        return None


class EmailCode(SignInMethod):
    """Recipients type a code from an email instead of a password they use twice a year."""

    key = MethodKey.EMAIL_CODE
    service_label = gettext_lazy("Codes by email")

    def steps(self):
        return [EmailCodeStep()]

    def doctor_check(self, d):
        label = _("Code by email")
        if d.user is None:
            return None
        if not d.user.is_external:
            return Check(
                label, _("Only for external recipients, through the link of a message sent to them.")
            )
        last = LoginCode.objects.filter(address=d.address).first()
        d.working_methods.append(self.key)
        if last is None:
            return Check(label, _("Available through the link of a message; no code was asked for yet."))
        if last.sent_at is None:
            return Check(
                label, _("A code was asked for and waits for the mail relay (see the notifications).")
            )
        return Check(
            label,
            _("The last code was sent on %(at)s.")
            % {"at": date_format(timezone.localtime(last.sent_at), "DATETIME_FORMAT")},
        )


register(EmailCode())
