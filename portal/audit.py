"""The audit trail's one writer: `record()` an event in the transaction of the change it records.

The actions call it (accounts.actions, messaging.actions, the login's record, the readers' opens);
nothing else writes `AuditEvent`. Once the transaction commits, the event also goes to the
organisation's SIEM through the syslog stream (AUDIT_SYSLOG): marked pending here, sent by the worker,
so that a SIEM that is down never blocks a request nor loses an event.
"""

from typing import Any

from django.dispatch import Signal

from . import audit_syslog
from .client import Client
from .logging import CURRENT_REQUEST_ID
from .models import AuditEvent

Event = AuditEvent.Event
# Sent with the events just written (`events`), in their transaction: what follows them (the API's
# webhooks) is queued in the same commit.
recorded = Signal()
SYSTEM = "system"  # the actor of what the portal does by itself: the directory's sync, timers, workers
COMMAND_LINE = "manage.py"  # the actor of a command the operator runs
TRUSTED_ACTORS = {SYSTEM, COMMAND_LINE}
# Who acts: a user, an API key acting for its account (with `audit_name`), a trusted name, or None.
Actor = Any


def is_trusted(actor: Actor) -> bool:
    """The portal itself and its operator's commands: no permission to check, no power to compare."""
    return isinstance(actor, str) and actor in TRUSTED_ACTORS


def actor_fields(actor: Actor) -> tuple[Any, str]:
    """(account or None, the name the trail shows): a user, an API key (its `audit_name`), or a name."""
    if actor is None:
        return None, SYSTEM
    if isinstance(actor, str):
        return None, actor
    if hasattr(actor, "audit_name"):  # an API key acting for its account
        return getattr(actor, "audit_account", None), actor.audit_name
    if getattr(actor, "is_authenticated", False) and hasattr(actor, "email"):
        return actor, actor.email
    return None, getattr(actor, "audit_name", SYSTEM)


def event_of(
    event: str,
    *,
    actor: Actor = None,
    client: Client | None = None,
    subject: Any = None,
    message: Any = None,
    **details: Any,
) -> AuditEvent:
    """An event, not saved yet (for a bulk write); see `record`."""
    account, name = actor_fields(actor)
    if isinstance(subject, str):
        subject_account, subject_name = None, subject
    else:
        subject_account, subject_name = subject, (subject.email if subject is not None else "")
    request_id = CURRENT_REQUEST_ID.get()
    return AuditEvent(
        event=event,
        actor=account,
        actor_name=name[:254],
        subject=subject_account,
        subject_name=subject_name[:254],
        message=str(getattr(message, "public_id", message or "")),
        ip=(client.ip if client is not None else "") or None,
        request_id="" if request_id == "-" else request_id,
        details={key: value for key, value in details.items() if value not in (None, "")},
        syslog_pending=audit_syslog.enabled(),
    )


def record(
    event: str,
    *,
    actor: Actor = None,
    client: Client | None = None,
    subject: Any = None,
    message: Any = None,
    **details: Any,
) -> AuditEvent:
    """Write one event: `actor` did `event` to `subject` (an account) or `message`, from `client`
    (a portal.client.Client), with a few harmless `details` (never a password, token or body)."""
    row = event_of(event, actor=actor, client=client, subject=subject, message=message, **details)
    row.save()
    recorded.send(sender=AuditEvent, events=[row])
    return row


def record_many(rows: list[AuditEvent]) -> list[AuditEvent]:
    """Write events made by `event_of` in one statement."""
    rows = AuditEvent.objects.bulk_create(rows)
    recorded.send(sender=AuditEvent, events=rows)
    return rows
