"""Messaging pages: the link in a notification, the message, downloads, reply, inbox, sent, compose."""

import functools
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.flow import start_scoped_login

from . import reading
from .forms import ComposeForm, ReplyForm
from .holding import IncomingAttachment, hold, open_attachment, read_bodies
from .models import AccessEvent, Message, Recipient


def no_referrer(view):
    """Message pages leak nothing through the Referer header, not even their own address."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper


def may_compose(user):
    return not user.is_external and user.may_use_portal()


def _unavailable(request, message, reason):
    return render(request, "messaging/unavailable.html", {"message": message, "reason": reason}, status=410)


@never_cache
@no_referrer
def open_link(request, token):
    """The link of a notification: the login for that recipient, then the message; else 404."""
    recipient = reading.recipient_for_token(token)
    if recipient is None:
        raise Http404
    message = recipient.message
    reason = reading.unavailable_reason(message)
    if reason:
        return _unavailable(request, message, reason)
    target = reverse("messaging:message", args=[message.public_id])
    if not request.user.is_authenticated:
        return start_scoped_login(
            request, email=recipient.address, sender=reading.sender_display(message), next_url=target
        ).respond(request)
    if request.user.pk != recipient.user_id:
        context = {"masked": reading.mask_address(recipient.address)}
        return render(request, "messaging/not_for_you.html", context, status=403)
    return redirect(target)


def _message_or_404(request, public_id):
    message, recipient = reading.message_for(request.user, public_id)
    if message is None:
        raise Http404
    return message, recipient


def _content_or_404(request, public_id):
    """The message, if its content may be read now: by its sender while kept, by a recipient while open."""
    message, recipient = _message_or_404(request, public_id)
    if (recipient is not None and reading.unavailable_reason(message)) or message.purged_at:
        raise Http404
    return message


@never_cache
@no_referrer
@login_required
def message_detail(request, public_id):
    message, recipient = _message_or_404(request, public_id)
    reason = reading.unavailable_reason(message)
    if recipient is not None and reason:
        return _unavailable(request, message, reason)
    text, html = read_bodies(message) if not message.purged_at else ("", "")
    reading.record_open(request, message, recipient)
    attachments = list(message.attachments.all())
    html = reading.show_inline_images(html, message, attachments)
    context = {"message": message, "text": text, "html": html, "attachments": attachments}
    if recipient is None:  # the sender sees every recipient, blind copies too, and how far each got
        context["recipients"] = message.recipients.with_replies().order_by("pk")
    else:
        context["shown_recipients"] = reading.shown_recipients(message, recipient)
        context["may_reply"] = message.allow_reply
    return render(request, "messaging/message.html", context)


@never_cache
@no_referrer
@login_required
def download(request, public_id, attachment_id):
    """An attachment, decrypted as it streams, always as a download."""
    message = _content_or_404(request, public_id)
    attachment = message.attachments.filter(public_id=attachment_id).first()
    if attachment is None:
        raise Http404
    AccessEvent.record(request, message, AccessEvent.Action.DOWNLOAD, attachment=attachment)
    return _stream(attachment, "application/octet-stream", as_attachment=True)


def _stream(attachment, content_type, *, as_attachment):
    """The attachment decrypted as it streams; whatever it holds, no browser runs it as a page."""
    response = StreamingHttpResponse(open_attachment(attachment), content_type=content_type)
    response["Content-Length"] = str(attachment.size)
    response["Content-Disposition"] = content_disposition_header(as_attachment, attachment.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@never_cache
@no_referrer
@login_required
def inline_image(request, public_id, attachment_id):
    """An image of the message's HTML body (a cid: part), shown in the page; only raster types."""
    message = _content_or_404(request, public_id)
    images = message.attachments.filter(content_type__in=reading.INLINE_IMAGE_TYPES)
    image = images.filter(public_id=attachment_id).first()
    if image is None:
        raise Http404
    return _stream(image, image.content_type, as_attachment=False)


def _incoming(files):
    return [IncomingAttachment(f.name, f.content_type, f) for f in files]


@never_cache
@no_referrer
@login_required
def reply(request, public_id):
    """A reply is held as a new message back to the sender, who is notified."""
    message, recipient = _message_or_404(request, public_id)
    if recipient is None or not message.allow_reply:
        raise PermissionDenied
    reason = reading.unavailable_reason(message)
    if reason:
        return _unavailable(request, message, reason)
    form = ReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        subject = message.subject if message.subject.lower().startswith("re:") else f"Re: {message.subject}"
        sent = hold(
            kind=message.kind,
            sender=request.user.email,
            sender_user=request.user,
            recipients=[message.sender],
            subject=subject,
            text=form.cleaned_data["body"],
            attachments=_incoming(form.cleaned_data["attachments"]),
            source=Message.Source.REPLY,
            in_reply_to=message,
        )
        messages.success(request, _("Your reply has been sent."))
        return redirect("messaging:message", sent.public_id)
    return render(request, "messaging/reply.html", {"message": message, "form": form})


@never_cache
@login_required
def inbox(request):
    """The personal portal's home: the secure messages addressed to me."""
    received = (
        Recipient.objects.filter(user=request.user)
        .exclude(message__sender_user=request.user)
        .select_related("message")
        .order_by("-message__created_at")[:200]
    )
    return render(
        request,
        "messaging/inbox.html",
        {"received": received},
    )


@never_cache
@login_required
def sent(request):
    if not may_compose(request.user):
        raise PermissionDenied
    sent_messages = (
        Message.objects.filter(sender_user=request.user)
        .prefetch_related(Prefetch("recipients", queryset=Recipient.objects.with_replies().order_by("pk")))
        .order_by("-created_at")[:200]
    )
    return render(request, "messaging/sent.html", {"sent_messages": sent_messages})


@never_cache
@no_referrer
@login_required
def compose(request):
    if not may_compose(request.user):
        raise PermissionDenied
    form = ComposeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        message = hold(
            sender=request.user.email,
            sender_user=request.user,
            recipients=data["to"],
            subject=data["subject"],
            text=data["body"],
            attachments=_incoming(data["attachments"]),
            expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
            read_receipt=data["read_receipt"],
            allow_reply=data["allow_reply"],
            source=Message.Source.COMPOSE,
        )
        messages.success(request, _("Your message is held and its recipients are being notified."))
        return redirect("messaging:message", message.public_id)
    return render(request, "messaging/compose.html", {"form": form})


@require_POST
@login_required
def revoke(request, public_id):
    message = get_object_or_404(Message, public_id=public_id, sender_user=request.user)
    if not message.revoked_at:
        message.revoked_at = timezone.now()
        message.save(update_fields=["revoked_at"])
    messages.success(request, _("The message is withdrawn: its recipients can no longer read it."))
    return redirect("messaging:sent")
