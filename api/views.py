"""The API's endpoints: thin views over messaging.holding.hold, messaging.actions and messaging.access."""

import hashlib
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Min, Prefetch, prefetch_related_objects
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ParseError, Throttled, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from messaging import access, actions, scanning
from messaging.holding import IncomingAttachment, hold
from messaging.models import AccessEvent, Message, MessageQuerySet, Progress, Recipient
from portal import audit
from portal.client import Client
from portal.models import AuditEvent

from . import serializers
from .keys import KeyActor
from .models import ApiKey, IdempotentAnswer, Scope
from .problems import Conflict, TooLarge

PROBLEM = OpenApiResponse(serializers.ProblemOut, description="A problem (RFC 9457)")
PROBLEM_TYPE = "application/problem+json"
ERRORS = {(code, PROBLEM_TYPE): PROBLEM for code in (400, 401, 403, 404, 405, 406, 415, 429)}
JSON_MOST_BYTES = 64 * 1024 * 1024  # base64 in JSON is for small files; large ones go as multipart
File = tuple[str, str, BinaryIO, int]  # an attachment sent: name, content type, content, size


class ApiView(APIView):
    """Every use of a key is in the audit trail, with the key's name as the actor."""

    scopes: dict[str, Scope] = {}

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        key = getattr(request._request, "api_key", None)
        if key is not None:
            audit.record(
                audit.Event.API_USED, actor=KeyActor(key), client=Client.of(request._request),
                method=request.method, path=request.path, status=response.status_code,
            )  # fmt: skip
        return response

    @property
    def key(self) -> ApiKey:
        """The key the request came with (api.authentication found it)."""
        return cast(ApiKey, self.request.auth)

    @property
    def account(self) -> User:
        """The staff account the key acts as."""
        return cast(User, self.request.user)

    def actor(self) -> KeyActor:
        return KeyActor(self.key)

    def rights_or_404(self, public_id: object) -> access.Rights:
        """The key's account's own message (ids are taken as text, so that a malformed one is a 404
        problem, like an unknown one)."""
        try:
            message_id = uuid.UUID(str(public_id))
        except ValueError:
            raise NotFound("No message of this key's account has this id.") from None
        rights = access.rights(self.account, message_id)
        if rights is None or not rights.is_sender:
            raise NotFound("No message of this key's account has this id.")
        return rights


def _content_digest(file: BinaryIO, chunk: int = 1024 * 1024) -> str:
    """The SHA-256 of a file read in chunks (memory does not grow with its size), then rewound."""
    digest = hashlib.sha256()
    file.seek(0)
    while block := file.read(chunk):
        digest.update(block)
    file.seek(0)
    return digest.hexdigest()


def _moment(text: str, field: str) -> datetime:
    """An RFC 3339 time as UTC (a naive one taken as UTC), or a 400 that says how to write one: the
    database takes no offset past 15:59, nor a year past 9999 once in UTC."""
    try:
        moment = parse_datetime(text)
        if moment is not None:
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise ValidationError({field: "An RFC 3339 time, e.g. 2026-12-01T09:00:00Z."})
    return moment


class MessagesPage(CursorPagination):
    page_size = 50
    ordering = "-id"

    def decode_cursor(self, request: Request) -> Cursor | None:
        """A cursor whose position is not a message id the database can hold is an invalid cursor."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            if not (str(cursor.position).isdigit() and len(str(cursor.position)) <= 18):
                raise NotFound(self.invalid_cursor_message)
        return cursor


class MessageList(ApiView):
    """Send a message; list the messages the key's account sent."""

    scopes = {"GET": Scope.READ, "POST": Scope.SEND}
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="messages_send",
        request={
            "application/json": serializers.MessageIn,
            "multipart/form-data": serializers.MessageIn,
        },
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        responses={
            (201, "application/json"): serializers.MessageOut,
            (409, PROBLEM_TYPE): PROBLEM,
            (413, PROBLEM_TYPE): PROBLEM,
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        if request.content_type.startswith("application/json"):
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            if length > JSON_MOST_BYTES:
                raise TooLarge(
                    "A JSON request carries at most 64 MiB: send large files as multipart/form-data."
                )
        data = self._fields(request)
        incoming = serializers.MessageIn(data=data)
        incoming.is_valid(raise_exception=True)
        fields = incoming.validated_data
        files = self._files(request, fields)
        if sum(size for _name, _type, _file, size in files) > settings.MAX_UPLOAD_MB * 1024 * 1024:
            raise TooLarge(
                f"The attachments are larger than the {settings.MAX_UPLOAD_MB} MB a message may hold."
            )
        key = request.headers.get("Idempotency-Key", "")[:255]
        fingerprint = self._fingerprint(data, files) if key else ""
        if key:
            earlier = self._earlier_answer(key, fingerprint)
            if earlier is not None:
                return earlier
        try:
            with transaction.atomic():
                message = self._hold(fields, files)
                body = serializers.message_out(message, message.recipients.order_by("pk"))
                if key:
                    IdempotentAnswer.objects.create(
                        api_key=self.key, key=key, request_hash=fingerprint, status=201, body=body
                    )
        except IntegrityError:
            earlier = self._earlier_answer(key, fingerprint) if key else None
            if earlier is None:
                raise
            return earlier
        return Response(body, status=status.HTTP_201_CREATED)

    def _fields(self, request: Request) -> dict[str, Any]:
        if hasattr(request.data, "getlist"):  # multipart or a form: lists are repeated or comma-separated
            data = {
                k: request.data.get(k) for k in request.data if k not in {"to", "cc", "bcc", "attachments"}
            }
            for name in ("to", "cc", "bcc"):
                data[name] = [
                    a.strip() for v in request.data.getlist(name) for a in v.split(",") if a.strip()
                ]
            return data
        if not isinstance(request.data, dict):
            raise ParseError("Send a JSON object.")
        return request.data

    def _files(self, request: Request, fields: dict[str, Any]) -> list[File]:
        """(name, content type, file, size) of every attachment, from JSON (base64) or multipart."""
        files: list[File] = [
            (a["filename"], a["content_type"], io.BytesIO(a["content_base64"]), len(a["content_base64"]))
            for a in fields.get("attachments") or []
        ]
        for upload in request.FILES.getlist("attachments") if hasattr(request.FILES, "getlist") else []:
            files.append(
                (upload.name, upload.content_type or "application/octet-stream", upload, upload.size)
            )
        return files

    def _fingerprint(self, data: dict[str, Any], files: list[File]) -> str:
        """What the request says, files' content included: a corrected file of the same size under the
        same Idempotency-Key is another request (409), not a retry of the first."""
        described = json.dumps(
            {"data": data, "files": [(n, t, s, _content_digest(f)) for n, t, f, s in files]},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(described.encode()).hexdigest()

    def _earlier_answer(self, key: str, fingerprint: str) -> Response | None:
        since = timezone.now() - timedelta(hours=24)
        earlier = IdempotentAnswer.objects.filter(api_key=self.key, key=key, created_at__gte=since).first()
        if earlier is None:
            IdempotentAnswer.objects.filter(api_key=self.key, key=key).delete()  # an old one: gone
            return None
        if earlier.request_hash != fingerprint:
            raise Conflict("This Idempotency-Key was used for another request in the last 24 hours.")
        return Response(earlier.body, status=earlier.status)

    def _hold(self, fields: dict[str, Any], files: list[File]) -> Message:
        account = self.account
        expires_at = fields.get("expires_at")
        if "expires_in_days" in fields:
            expires_at = timezone.now() + timedelta(days=fields["expires_in_days"])
        everyone = [*fields["to"], *fields["cc"], *fields["bcc"]]
        try:
            message = hold(
                sender=account.email,
                sender_user=account,
                recipients=everyone,
                shown_recipients=[*fields["to"], *fields["cc"]],
                subject=fields["subject"],
                text=fields["text"],
                html=fields["html"],
                attachments=[IncomingAttachment(n, t, f) for n, t, f, _size in files],
                expires_at=expires_at,
                read_receipt=fields["read_receipt"],
                restricted=fields["restricted"],
                allow_reply=fields["allow_reply"],
                source=Message.Source.API,
                client=Client.of(self.request._request),
                language=fields.get("language", ""),
                actor=self.actor(),  # api-key:<name>, as the trail names what a key does
            )
        except DjangoValidationError as error:
            raise ValidationError({"to": error.messages}) from None
        except scanning.TooLarge as too_large:
            raise TooLarge(
                f"{too_large.filename}: larger than the malware scanner accepts, so it cannot be checked. "
                "Nothing was held."
            ) from None
        return message

    @extend_schema(
        operation_id="messages_list",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="held from this time on"),
            OpenApiParameter("status", str, enum=serializers.MESSAGE_STATES),
            OpenApiParameter("cursor", str, description="from the `next` or `previous` of a page"),
        ],
        responses={(200, "application/json"): serializers.MessagePageOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        messages = Message.objects.filter(sender_user=self.account).defer("body_text", "body_html")
        since = request.query_params.get("since")
        if since:
            messages = messages.filter(created_at__gte=_moment(since, "since"))
        wanted = request.query_params.get("status")
        if wanted:
            messages = self._with_status(messages, wanted)
        pages = MessagesPage()
        page = pages.paginate_queryset(messages, request, view=self) or []
        prefetch_related_objects(page, Prefetch("recipients", queryset=Recipient.objects.order_by("pk")))
        results = [serializers.message_out(m, m.recipients.all()) for m in page]
        return pages.get_paginated_response(results)

    def _with_status(self, messages: MessageQuerySet, wanted: str) -> MessageQuerySet:
        if wanted not in serializers.MESSAGE_STATES:
            raise ValidationError({"status": f"One of: {', '.join(serializers.MESSAGE_STATES)}."})
        return messages.in_state(wanted)


class MessageDetail(ApiView):
    """One sent message: each recipient's progress, file by file."""

    scopes = {"GET": Scope.READ}

    @extend_schema(
        operation_id="messages_read",
        responses={(200, "application/json"): serializers.MessageDetailOut, **ERRORS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        message = self.rights_or_404(public_id).message
        recipients = list(message.recipients.with_replies().order_by("pk"))
        return Response(serializers.message_out(message, recipients, downloads_of(message, recipients)))


def downloads_of(message: Message, recipients: list[Recipient]) -> dict[int, list[dict[str, Any]]]:
    """recipient id -> [{filename, count, first_at}] of their downloads."""
    rows = (
        AccessEvent.objects.filter(
            message=message, action=AccessEvent.Action.DOWNLOAD, attachment__isnull=False
        )
        .values("user_id", "attachment__filename", "attachment_id")
        .annotate(count=Count("id"), first_at=Min("at"))
        .order_by("attachment_id")
    )
    by_user: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_user.setdefault(row["user_id"], []).append(
            {
                "filename": row["attachment__filename"],
                "count": row["count"],
                "first_at": row["first_at"].isoformat(),
            }
        )
    return {r.pk: by_user.get(r.user_id, []) for r in recipients}


class Recall(ApiView):
    scopes = {"POST": Scope.MANAGE}

    @extend_schema(
        operation_id="messages_recall",
        request=serializers.RecallIn,
        responses={(200, "application/json"): serializers.MessageOut, **ERRORS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        message = self.rights_or_404(public_id).message
        incoming = serializers.RecallIn(data=request.data if isinstance(request.data, dict) else {})
        incoming.is_valid(raise_exception=True)
        recipient = None
        if "recipient" in incoming.validated_data:
            recipient = message.recipients.filter(pk=incoming.validated_data["recipient"]).first()
            if recipient is None:
                raise NotFound("This message has no such recipient.")
        actions.recall(self.actor(), Client.of(request._request), message, recipient)
        message.refresh_from_db()
        return Response(serializers.message_out(message, message.recipients.order_by("pk")))


class Extend(ApiView):
    scopes = {"POST": Scope.MANAGE}

    @extend_schema(
        operation_id="messages_extend",
        request=serializers.ExtendIn,
        responses={(200, "application/json"): serializers.MessageOut, **ERRORS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        message = self.rights_or_404(public_id).message
        incoming = serializers.ExtendIn(data=request.data if isinstance(request.data, dict) else {})
        incoming.is_valid(raise_exception=True)
        actions.extend(
            self.actor(), Client.of(request._request), message, incoming.validated_data["expires_at"]
        )
        return Response(serializers.message_out(message, message.recipients.order_by("pk")))


class Resend(ApiView):
    scopes = {"POST": Scope.MANAGE}

    @extend_schema(
        operation_id="messages_resend",
        request=None,
        responses={(200, "application/json"): serializers.RecipientOut, **ERRORS},
    )
    def post(self, request: Request, public_id: str, recipient_id: str) -> Response:
        message = self.rights_or_404(public_id).message
        known = recipient_id.isdigit() and len(recipient_id) <= 18  # a number the database can hold
        recipient = message.recipients.filter(pk=int(recipient_id)).first() if known else None
        if recipient is None:
            raise NotFound("This message has no such recipient.")
        try:
            actions.resend(self.actor(), Client.of(request._request), recipient)
        except actions.Refused as refusal:
            raise Throttled(wait=3600, detail=str(refusal)) from None
        return Response({"id": recipient.pk, "address": recipient.address, "status": Progress.WAITING})


class AuditPull(ApiView):
    """The audit trail, oldest first, from a cursor: the SIEM's pull."""

    scopes = {"GET": Scope.AUDIT}
    PAGE = 500

    @extend_schema(
        operation_id="audit_pull",
        parameters=[
            OpenApiParameter("after", int, description="the `next` of the last page (0: from the start)")
        ],
        responses={(200, "application/json"): serializers.AuditPageOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        try:
            after = int(request.query_params.get("after") or 0)
        except ValueError:
            raise ValidationError({"after": "A whole number: the `next` of the last page."}) from None
        if not 0 <= after < 2**62:
            raise ValidationError({"after": "A whole number: the `next` of the last page."})
        events = list(AuditEvent.objects.filter(pk__gt=after).order_by("pk")[: self.PAGE])
        return Response({"events": [e.as_json() for e in events], "next": events[-1].pk if events else after})
