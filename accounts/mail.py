"""The portal's emails: plain text and HTML from templates, sent without holding up the page.

Sending happens on a small background pool so that a page answers in the same time whether
or not it sent an email (no way to learn which addresses have accounts by timing).
"""

import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

log = logging.getLogger("portal.mail")
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="portal-mail")


def build_email(to, template, context):
    """An email from templates/emails/<template>.{subject.txt,txt,html}."""
    context = {"portal_url": settings.PORTAL_BASE_URL, **context}
    subject = render_to_string(f"emails/{template}.subject.txt", context).strip()
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    return message


def _send(message, template):
    try:
        message.send()
        log.info("event=email_sent template=%s", template)
    except Exception:  # the relay is down or refuses: log it, never the content
        log.exception("event=email_failed template=%s", template)


def send_in_background(to, template, context):
    """Render now (templates need the request's data), send on the background pool."""
    message = build_email(to, template, context)
    return _pool.submit(_send, message, template)
