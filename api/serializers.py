"""What the API reads and answers: messages to send, messages and recipients followed, audit events."""

import base64
import binascii
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from messaging.forms import LONGEST_EXPIRY_DAYS
from messaging.models import Message, MessageState, Progress, Recipient

MOST_RECIPIENTS = 500


# What the API calls a message's and a recipient's `status`: the messaging app's own states.
MESSAGE_STATES = MessageState.values
RECIPIENT_STATES = Progress.values


class AttachmentIn(serializers.Serializer):
    filename = serializers.CharField(max_length=255)
    content_type = serializers.CharField(max_length=255, default="application/octet-stream")
    content_base64 = serializers.CharField(help_text="The file's bytes, base64-encoded.")

    def validate_content_base64(self, value: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("This is not base64.") from None


class MessageIn(serializers.Serializer):
    to = serializers.ListField(child=serializers.EmailField(), default=list, max_length=MOST_RECIPIENTS)
    cc = serializers.ListField(child=serializers.EmailField(), default=list, max_length=MOST_RECIPIENTS)
    bcc = serializers.ListField(child=serializers.EmailField(), default=list, max_length=MOST_RECIPIENTS)
    subject = serializers.CharField(max_length=998, allow_blank=True, default="")
    text = serializers.CharField(allow_blank=True, default="", max_length=5_000_000, trim_whitespace=False)
    html = serializers.CharField(allow_blank=True, default="", max_length=5_000_000, trim_whitespace=False)
    attachments = AttachmentIn(many=True, required=False)
    expires_in_days = serializers.IntegerField(min_value=1, max_value=LONGEST_EXPIRY_DAYS, required=False)
    expires_at = serializers.DateTimeField(required=False)
    read_receipt = serializers.BooleanField(default=False)
    restricted = serializers.BooleanField(default=False)
    allow_reply = serializers.BooleanField(default=True)
    language = serializers.ChoiceField(choices=[code for code, _name in settings.LANGUAGES], required=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        everyone = [*data["to"], *data["cc"], *data["bcc"]]
        if not everyone:
            raise serializers.ValidationError({"to": "A message needs at least one recipient."})
        if len(everyone) > MOST_RECIPIENTS:
            raise serializers.ValidationError(
                {"to": f"At most {MOST_RECIPIENTS} recipients a message (To, Cc and Bcc together)."}
            )
        if "expires_in_days" in data and "expires_at" in data:
            raise serializers.ValidationError({"expires_at": "Give expires_in_days or expires_at, not both."})
        if "expires_at" in data:
            moment = data["expires_at"]
            if moment <= timezone.now() or moment > timezone.now() + timedelta(days=LONGEST_EXPIRY_DAYS):
                raise serializers.ValidationError(
                    {"expires_at": f"A time in the future, at most {LONGEST_EXPIRY_DAYS} days away."}
                )
        return data


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class RecipientOut(serializers.Serializer):
    id = serializers.IntegerField()
    address = serializers.EmailField()
    status = serializers.ChoiceField(choices=RECIPIENT_STATES)


class DownloadOut(serializers.Serializer):
    filename = serializers.CharField()
    count = serializers.IntegerField()
    first_at = serializers.DateTimeField()


class RecipientDetailOut(RecipientOut):
    notified_at = serializers.DateTimeField(allow_null=True)
    opened_at = serializers.DateTimeField(allow_null=True)
    last_opened_at = serializers.DateTimeField(allow_null=True)
    opens = serializers.IntegerField()
    downloads = DownloadOut(many=True)
    replied_at = serializers.DateTimeField(allow_null=True)
    recalled_at = serializers.DateTimeField(allow_null=True)


class MessageOut(serializers.Serializer):
    id = serializers.UUIDField()
    subject = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    recalled_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=MESSAGE_STATES)
    recipients = RecipientOut(many=True)


class MessageDetailOut(MessageOut):
    recipients = RecipientDetailOut(many=True)


def message_out(
    message: Message,
    recipients: Iterable[Recipient],
    downloads: dict[int, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The message and each recipient as the API shows them (`downloads`: recipient id -> files)."""
    out = {
        "id": str(message.public_id),
        "subject": message.subject,
        "created_at": _time(message.created_at),
        "expires_at": _time(message.expires_at),
        "recalled_at": _time(message.revoked_at),
        "status": message.state.value,
        "recipients": [],
    }
    for r in recipients:
        row = {"id": r.pk, "address": r.address, "status": r.progress.value}
        if downloads is not None:
            row.update(
                notified_at=_time(r.notified_at),
                opened_at=_time(r.first_opened_at),
                last_opened_at=_time(r.last_opened_at),
                opens=r.opens,
                downloads=downloads.get(r.pk, []),
                replied_at=_time(getattr(r, "replied_at", None)),
                recalled_at=_time(r.recalled_at or message.revoked_at),
            )
        out["recipients"].append(row)
    return out


class MessagePageOut(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = MessageOut(many=True)


class RecallIn(serializers.Serializer):
    recipient = serializers.IntegerField(
        required=False, min_value=1, max_value=2**62, help_text="Recall from this recipient only."
    )


class ExtendIn(serializers.Serializer):
    expires_at = serializers.DateTimeField()

    def validate_expires_at(self, moment: datetime) -> datetime:
        if moment <= timezone.now() or moment > timezone.now() + timedelta(days=LONGEST_EXPIRY_DAYS):
            raise serializers.ValidationError(
                f"A time in the future, at most {LONGEST_EXPIRY_DAYS} days away."
            )
        return moment


class AuditEventOut(serializers.Serializer):
    id = serializers.IntegerField()
    time = serializers.CharField()
    event = serializers.CharField()
    actor = serializers.CharField()
    subject = serializers.CharField(allow_null=True)
    message = serializers.CharField(allow_null=True)
    ip = serializers.CharField(allow_null=True)
    request_id = serializers.CharField(allow_null=True)
    details = serializers.DictField()


class AuditPageOut(serializers.Serializer):
    events = AuditEventOut(many=True)
    next = serializers.IntegerField(help_text="Ask again with after=next for what follows.")


class ProblemOut(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()

    def get_fields(self) -> dict[str, serializers.Field]:
        """`errors` (each field's): added here, since a Serializer's own `errors` is taken."""
        return {**super().get_fields(), "errors": serializers.JSONField(required=False)}


def clean_django_error(error: Exception) -> Exception:
    """A Django ValidationError as DRF's field errors."""
    if isinstance(error, DjangoValidationError):
        return serializers.ValidationError({"to": error.messages})
    return error
