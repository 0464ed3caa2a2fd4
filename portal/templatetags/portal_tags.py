"""Template pieces every page shows, built once per language instead of on every page."""

import functools

from django import template
from django.conf import settings
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import get_language_info

from portal.models import AuditEvent

register = template.Library()


@functools.cache
def _language_options(current):
    """The language chooser's <option>s, each name in its own language, the current one selected."""
    return format_html_join(
        "",
        '<option value="{}" lang="{}"{}>{}</option>',
        (
            (
                code,
                code,
                mark_safe(" selected") if code == current else "",
                get_language_info(code)["name_local"],
            )
            for code, _name in settings.LANGUAGES
        ),
    )


@register.simple_tag(takes_context=True)
def language_options(context):
    return _language_options(context.get("LANGUAGE_CODE") or settings.LANGUAGE_CODE)


@register.simple_tag
def recent_audit_events(user, count):
    """The admin's "Recent actions": what this person did lately, from the audit trail (Django's own log
    of admin changes stays empty: every change goes through an action that writes the trail)."""
    return list(
        AuditEvent.objects.filter(actor=user)
        .exclude(event__startswith="login.")
        .order_by("-at", "-pk")[:count]
    )
