"""Messaging pages: the link in a notification, the message, downloads, reply, inbox, sent, compose."""

import contextlib
import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import throttle
from accounts.login import start_scoped_login
from portal.client import Client, client_ip

from . import access, actions, authenticity, mailbox, reading, scanning
from .forms import CheckForm, ComposeForm, ExtendForm, ReplyForm, SearchForm
from .holding import IncomingAttachment, hold, one_line, open_attachment, read_bodies
from .models import AccessEvent, Availability, Message, Recipient


def no_referrer(view):
    """Message pages leak nothing through the Referer header, not even their own address."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper


def _unavailable(request, message, reason):
    context = {"message": message, "reason": reason, "Availability": Availability}
    return render(request, "messaging/unavailable.html", context, status=410)


@never_cache
@no_referrer
def open_link(request, token):
    """The link of a notification: the login for that recipient, then the message; else 404."""
    recipient = reading.recipient_for_token(token)
    if recipient is None:
        raise Http404
    message = recipient.message
    reason = recipient.availability
    if reason != Availability.OPEN:
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


def _rights_or_404(request, public_id):
    """What the person may do with the message; a message that is not theirs does not exist (404)."""
    rights = access.rights(request.user, public_id)
    if rights is None:
        raise Http404
    return rights


def _content_or_404(request, public_id, right="read"):
    """The rights on a message whose content the person may `right` (read, print, download) now:
    404 while it is not readable, 403 when only that right is missing (a restricted message)."""
    rights = _rights_or_404(request, public_id)
    if not rights.read:
        raise Http404
    if not getattr(rights, right):
        raise PermissionDenied
    return rights


@never_cache
@no_referrer
@login_required
def message_detail(request, public_id):
    rights = _rights_or_404(request, public_id)
    message, recipient = rights.message, rights.recipient
    if rights.unavailable:
        return _unavailable(request, message, rights.unavailable)
    text, html = read_bodies(message) if rights.read else ("", "")
    reading.record_open(request.user, Client.of(request), message, recipient)
    thread = mailbox.thread(request.user, message) if message.in_reply_to_id else []
    attachments = list(message.attachments.all())
    html = reading.show_inline_images(html, message, attachments)
    context = {
        "message": message,
        "rights": rights,
        "text": text,
        "html": html,
        "attachments": attachments,
        "recipient": recipient,
        "thread": [earlier.message for earlier in thread] if thread else [],
        "quoted": mailbox.quote(message, thread) if thread else None,
        "Folder": Recipient.Folder,
    }
    if rights.manage:  # the sender sees every recipient, blind copies too, how far each got, and the log
        recipients = list(message.recipients.with_replies().order_by("pk"))
        downloads = reading.downloads_by_recipient(message, recipients)
        for recipient in recipients:
            recipient.downloads = downloads[recipient.pk]
        context["recipients"] = recipients
        context["events"] = message.access_events.select_related("user", "attachment")[:100]
        context["extend_form"] = ExtendForm()
    else:
        context["shown_recipients"] = reading.shown_recipients(message, recipient)
    return render(request, "messaging/message.html", context)


@never_cache
@no_referrer
@login_required
def print_view(request, public_id):
    """A print-friendly page of the message; not for the recipients of a restricted message."""
    rights = _content_or_404(request, public_id, "print")
    message, recipient = rights.message, rights.recipient
    text, html = read_bodies(message)
    attachments = list(message.attachments.all())
    html = reading.show_inline_images(html, message, attachments)
    AccessEvent.record(request.user, Client.of(request), message, AccessEvent.Action.PRINT)
    shown = reading.shown_recipients(message, recipient) if recipient else message.shown_recipients
    context = {"message": message, "text": text, "html": html, "attachments": attachments, "shown": shown}
    return render(request, "messaging/print.html", context)


@never_cache
@no_referrer
@login_required
def download(request, public_id, attachment_id):
    """An attachment, decrypted as it streams, always as a download; not for the recipients of a
    restricted message."""
    rights = _content_or_404(request, public_id, "download")
    attachment = rights.message.attachments.filter(public_id=attachment_id).first()
    if attachment is None:
        raise Http404
    reading.record_download(request.user, Client.of(request), rights.message, rights.recipient, attachment)
    return _stream(attachment, "application/octet-stream", as_attachment=True)


def _stream(attachment, content_type, *, as_attachment):
    """The attachment decrypted as it streams; whatever it holds, no browser runs it as a page."""
    response = StreamingHttpResponse(open_attachment(attachment), content_type=content_type)
    response["Content-Length"] = str(attachment.size)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment, one_line(attachment.filename, 255) or "attachment"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@never_cache
@no_referrer
@login_required
def inline_image(request, public_id, attachment_id):
    """An image of the message's HTML body (a cid: part), shown in the page; only raster types."""
    images = _content_or_404(request, public_id, "images").message.attachments.filter(
        content_type__in=reading.INLINE_IMAGE_TYPES
    )
    image = images.filter(public_id=attachment_id).first()
    if image is None:
        raise Http404
    return _stream(image, image.content_type, as_attachment=False)


def _incoming(files):
    return [IncomingAttachment(f.name, f.content_type, f) for f in files]


@never_cache
@no_referrer
@login_required
def reply(request, public_id, everyone=False):
    """A reply (or a reply to all) is held as a new message of the thread; its recipients are notified."""
    rights = _rights_or_404(request, public_id)
    if rights.unavailable:
        return _unavailable(request, rights.message, rights.unavailable)
    to = rights.reply_all_to if everyone else rights.reply_to
    if not to:
        raise PermissionDenied
    form = ReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with scanned_uploads(request, form):
            try:
                sent = actions.reply(
                    request.user, rights, form.cleaned_data["body"],
                    _incoming(form.cleaned_data["attachments"]), everyone=everyone, client=Client.of(request),
                )  # fmt: skip
            except actions.Refused as refusal:
                form.add_error(None, str(refusal))
            else:
                messages.success(request, _("Your reply has been sent."))
                return redirect("messaging:message", sent.public_id)
    context = {"message": rights.message, "form": form, "to": to, "everyone": everyone}
    return render(request, "messaging/reply.html", context)


def _folder_page(request, folder):
    """Inbox or Deleted: the reader's messages, 50 a page, newest first, searchable."""
    search = SearchForm(request.GET)
    query, before, after = search.values()
    page = mailbox.received(request.user, folder, query, before, after)
    context = {
        "Folder": Recipient.Folder,
        "folder": folder,
        "message_path": mailbox.message_path(),
        "page": page,
        "search": search,
        "query": query,
        "unread": mailbox.unread_count(request.user),
    }
    return render(request, "messaging/folder.html", context)


@never_cache
@login_required
def inbox(request):
    """The personal portal's home: the secure messages addressed to me."""
    return _folder_page(request, Recipient.Folder.INBOX)


@never_cache
@login_required
def deleted(request):
    return _folder_page(request, Recipient.Folder.DELETED)


@never_cache
@login_required
def sent(request):
    """What I sent (staff: composed; anyone: replied), with each recipient's progress."""
    search = SearchForm(request.GET)
    query, before, after = search.values()
    page = mailbox.sent(request.user, query, before, after)
    context = {"page": page, "search": search, "query": query, "unread": mailbox.unread_count(request.user)}
    context["message_path"] = mailbox.message_path()
    return render(request, "messaging/sent.html", context)


@require_POST
@login_required
def move(request):
    """Delete (to Deleted) or restore (to the Inbox) the reader's own copies of the messages chosen."""
    folder = request.POST.get("to")
    if folder not in {Recipient.Folder.INBOX, Recipient.Folder.DELETED}:
        raise Http404
    moved = actions.move(request.user, Client.of(request), request.POST.getlist("message"), folder)
    if folder == Recipient.Folder.DELETED:
        text = ngettext("The message is in Deleted.", "%(count)d messages are in Deleted.", moved)
        messages.success(request, text % {"count": moved})
        return redirect("home")
    text = ngettext("The message is back in your Inbox.", "%(count)d messages are back in your Inbox.", moved)
    messages.success(request, text % {"count": moved})
    return redirect("messaging:deleted")


@require_POST
@login_required
def empty_deleted(request):
    count = actions.empty_deleted(request.user, Client.of(request))
    messages.success(request, ngettext("%d message removed.", "%d messages removed.", count) % count)
    return redirect("messaging:deleted")


@require_POST
@login_required
def mark_unread(request, public_id):
    rights = _rights_or_404(request, public_id)
    if not rights.mark_unread:
        raise Http404
    actions.mark_unread(request.user, Client.of(request), rights)
    messages.success(request, _("The message is marked as unread."))
    return redirect("home")


@never_cache
@no_referrer
@login_required
def compose(request):
    if not access.may_compose(request.user):
        raise PermissionDenied
    form = ComposeForm(request.user, request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with scanned_uploads(request, form):
            message = hold(
                sender=request.user.email,
                sender_user=request.user,
                recipients=data["to"],
                subject=data["subject"],
                text=data["body"],
                attachments=_incoming(data["attachments"]),
                expires_at=data["expires_at"],
                read_receipt=data["read_receipt"],
                allow_reply=data["allow_reply"],
                restricted=data["restricted"],
                source=Message.Source.COMPOSE,
                client=Client.of(request),
            )
            messages.success(request, _("Your message is held and its recipients are being notified."))
            return redirect("messaging:message", message.public_id)
    return render(request, "messaging/compose.html", {"form": form})


@contextlib.contextmanager
def scanned_uploads(request, form):
    """Files with malware, or that cannot be checked now, are refused on the page: the form keeps what
    the person typed, nothing is stored, and a refusal for malware is in the audit trail."""
    try:
        yield
    except scanning.Infected as infected:
        actions.refuse_upload(request.user, Client.of(request), infected)
        for finding in infected.findings:
            form.add_error(
                "attachments",
                _("“%(file)s” was refused: the malware scanner found %(finding)s in it. Nothing was sent.")
                % {"file": finding.filename, "finding": finding.signature},
            )
    except scanning.TooLarge as too_large:
        form.add_error(
            "attachments",
            _(
                "%(files)s: larger than the malware scanner accepts, so it cannot be checked. Nothing was "
                "sent. Send a smaller file, or ask your administrator."
            )
            % {"files": too_large.filename},
        )
    except scanning.Unavailable:
        form.add_error(
            "attachments",
            _(
                "Your files cannot be checked for malware right now, so nothing was sent. "
                "Please try again in a few minutes."
            ),
        )


def _managed_message_or_404(request, public_id):
    """A message whose sender's controls the person may use; for anyone else it does not exist."""
    rights = _rights_or_404(request, public_id)
    if not rights.manage:
        raise Http404
    return rights.message


def _act(request, action, *args):
    """Run a message action for the person; its refusal becomes a message on the page."""
    try:
        action(request.user, Client.of(request), *args)
    except actions.Refused as refusal:
        messages.error(request, str(refusal))
        return False
    return True


@require_POST
@login_required
def revoke(request, public_id):
    """Recall the message from every recipient, or from one (`recipient` in the form)."""
    message = _managed_message_or_404(request, public_id)
    recipient = None
    if request.POST.get("recipient"):
        recipient = get_object_or_404(message.recipients, pk=_int_or_404(request.POST["recipient"]))
    if _act(request, actions.recall, message, recipient):
        if recipient is None:
            messages.success(request, _("The message is recalled: its recipients can no longer read it."))
        else:
            text = _("The message is recalled from %(address)s; the other recipients can still read it.")
            messages.success(request, text % {"address": recipient.address})
    return redirect("messaging:message", message.public_id)


@require_POST
@login_required
def extend(request, public_id):
    message = _managed_message_or_404(request, public_id)
    form = ExtendForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["until"][0])
    elif _act(request, actions.extend, message, form.cleaned_data["expires_at"]):
        messages.success(request, _("The message is available until the new date."))
    return redirect("messaging:message", message.public_id)


@require_POST
@login_required
def resend(request, public_id, recipient_id):
    message = _managed_message_or_404(request, public_id)
    recipient = get_object_or_404(message.recipients, pk=recipient_id)
    if _act(request, actions.resend, recipient):
        text = _(
            "A new notification is on its way to %(address)s; the link in the earlier one no longer works."
        )
        messages.success(request, text % {"address": recipient.address})
    return redirect("messaging:message", message.public_id)


def _int_or_404(text):
    try:
        return int(text)
    except ValueError:
        raise Http404 from None


@never_cache
def check_notification(request):
    """Did this portal send that email? The check code printed in a notification says; nothing else does."""
    form = CheckForm(request.POST or None)
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        try:
            with throttle.guess_each(authenticity.guess_keys(client_ip(request))) as attempt:
                found = authenticity.facts(form.cleaned_data["code"])
                attempt.right(bool(found))
            context.update(checked=True, found=found)
        except throttle.Locked:
            context["limited"] = True
    return render(request, "messaging/check.html", context)
