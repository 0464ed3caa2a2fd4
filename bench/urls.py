"""The portal's URLs plus the benchmarks' baselines: a plain FileResponse, a minimal signed-in page,
the message page without its lookups."""

import os

from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import render
from django.urls import path

from messaging import access, reading
from messaging.holding import read_bodies
from portal.client import Client
from portal.urls import urlpatterns as portal_urlpatterns

_loaded = {}


def plain_file(request):
    return FileResponse(open(os.environ["BENCH_PLAIN_FILE"], "rb"), as_attachment=True)  # noqa: SIM115


@login_required
def minimal_page(request):
    """The least a page of the portal does: a signed-in person, the base template."""
    return render(request, "base.html")


@login_required
def message_in_memory(request, public_id):
    """The message page as a recipient gets it, with the message looked up and decrypted once per process:
    what the audit row, the template and everything around them cost without the lookups."""
    if public_id not in _loaded:
        rights = access.rights(request.user, public_id)
        message = rights.message
        _loaded[public_id] = (rights, list(message.attachments.all()), read_bodies(message))
    rights, attachments, (text, html) = _loaded[public_id]
    message, recipient = rights.message, rights.recipient
    reading.record_open(request.user, Client.of(request), message, recipient)
    context = {"message": message, "rights": rights, "text": text, "html": html, "attachments": attachments}
    context |= {"shown_recipients": reading.shown_recipients(message, recipient), "may_reply": True}
    return render(request, "messaging/message.html", context)


urlpatterns = [
    path("bench/plain/", plain_file),
    path("bench/minimal/", minimal_page),
    path("bench/in-memory/<uuid:public_id>/", message_in_memory),
    *portal_urlpatterns,
]
