"""The portal's emails: plain text and HTML from templates, and how sending them is retried.

Nothing is sent while a page is answered: pages write an outbox row (a Notification, a
PasswordHelpRequest) and the worker `deliver_notifications` sends it, again later while the
relay refuses. So a page takes the same time whether or not it sent something, and an outage
of the relay loses nothing.
"""

import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

SEND_ERRORS = (smtplib.SMTPException, OSError)


def build_email(to, template, context):
    """An email from templates/emails/<template>.{subject.txt,txt,html}."""
    context = {"portal_url": settings.PORTAL_BASE_URL, **context}
    subject = render_to_string(f"emails/{template}.subject.txt", context).strip()
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    return message


def retry_delay(attempts):
    """After a failed attempt: NOTIFICATION_RETRY_SECONDS, doubling, at most an hour."""
    return timedelta(seconds=min(settings.NOTIFICATION_RETRY_SECONDS * 2 ** (attempts - 1), 3600))
