"""A reader's mailbox (folders, paging, search) and what readers and senders do with a message.

Pages are cut by the message id (newest first), not by an offset: page 50 of a mailbox costs
what page 1 does, however many messages the portal holds.
"""

import functools
import uuid
from dataclasses import dataclass

from django.db.models import Prefetch, prefetch_related_objects
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from . import access
from .holding import read_bodies
from .models import Message, Recipient

PAGE_SIZE = 50
# A list never shows the (encrypted) bodies: 50 of them could be megabytes read for nothing.
LIST_DEFERS = ("body_text", "body_html", "wrapped_key", "search_text", "shown_recipients")
INBOX, DELETED, SENT = "inbox", "deleted", "sent"


@dataclass
class Page:
    """One page of a folder: its rows and the cursors of the pages either side (None: no such page)."""

    rows: list
    newer: int = None
    older: int = None


def _cut(rows, key, before, after):
    """Rows (already filtered, by `key` descending) cut to the page before or after a cursor."""
    if after is not None:
        rows = list(rows.filter(**{f"{key}__gt": after}).order_by(key)[: PAGE_SIZE + 1])
        more_newer = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        older = getattr(rows[-1], key) if rows else None
        return Page(rows, newer=getattr(rows[0], key) if rows and more_newer else None, older=older)
    if before is not None:
        rows = rows.filter(**{f"{key}__lt": before})
    rows = list(rows.order_by(f"-{key}")[: PAGE_SIZE + 1])
    more_older = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    newer = getattr(rows[0], key) if rows and before is not None else None
    return Page(rows, newer=newer, older=getattr(rows[-1], key) if more_older else None)


def received(user, folder, query="", before=None, after=None):
    """A page of the reader's Inbox or Deleted folder: Recipient rows with their messages."""
    rows = (
        Recipient.objects.visible_to(user)
        .filter(folder=folder)
        .select_related("message")
        .defer(*(f"message__{name}" for name in LIST_DEFERS))
    )
    if query:
        rows = rows.filter(message__search_text__contains=query.lower())
    return _cut(rows, "message_id", before, after)


def sent(user, query="", before=None, after=None):
    """A page of the reader's Sent folder: messages they composed or replied, with every recipient."""
    rows = Message.objects.filter(sender_user=user).defer(*LIST_DEFERS)
    if query:
        rows = rows.filter(search_text__contains=query.lower())
    page = _cut(rows, "id", before, after)
    recipients = Recipient.objects.with_replies().order_by("pk")
    prefetch_related_objects(page.rows, Prefetch("recipients", queryset=recipients))
    return page


def unread_count(user):
    return Recipient.objects.visible_to(user).filter(folder=Recipient.Folder.INBOX, unread=True).count()


def movable(user, public_ids, folder):
    """The reader's own copies of these messages that are not in `folder` yet (ids that are not theirs,
    or not ids, are ignored; an emptied copy never comes back)."""
    ids = [text for text in public_ids if _is_uuid(text)]
    rows = Recipient.objects.visible_to(user).filter(message__public_id__in=ids).exclude(folder=folder)
    return rows.exclude(folder=Recipient.Folder.EMPTIED)


def _is_uuid(text):
    try:
        uuid.UUID(text)
    except (TypeError, ValueError):
        return False
    return True


@functools.cache
def message_path():
    """'/messages/': what a message's address starts with (its id and a slash follow). A folder page
    joins it to 50 ids instead of reversing 50 URLs."""
    zero = uuid.UUID(int=0)
    return reverse("messaging:message", args=[zero]).removesuffix(f"{zero}/")


def thread(user, message, depth=20):
    """The user's rights on each earlier message of the thread that exists for them, oldest first: asked
    once each, for the thread and for the quote alike."""
    earlier, seen = [], {message.pk}
    current = message
    while current.in_reply_to_id and current.in_reply_to_id not in seen and len(earlier) < depth:
        seen.add(current.in_reply_to_id)
        current = Message.objects.filter(pk=current.in_reply_to_id).first()
        if current is None:
            break
        found = access.rights_on(user, current)
        if found is not None:
            earlier.append(found)
    return earlier[::-1]


def reply_subject(subject):
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def quote(message, earlier):
    """The message a reply answers, quoted under it, as mail programs do: only for someone who may print
    that message now (messaging.access.may_quote), so a restriction or a recall hides it here too.
    `earlier`: the thread (the reader's rights on each earlier message, oldest first)."""
    answered = next((r for r in earlier if r.message.pk == message.in_reply_to_id), None)
    if not access.may_quote(answered):
        return None
    original = answered.message
    text, html = read_bodies(original)
    when = timezone.localtime(original.created_at)
    said = _("On %(when)s, %(sender)s wrote:") % {
        "when": date_format(when, "DATETIME_FORMAT"),
        "sender": original.sender,
    }
    original_text = text or strip_tags(html)
    quoted = "\n".join(f"> {line}" if line else ">" for line in original_text.splitlines())
    return {"said": said, "text": quoted}
