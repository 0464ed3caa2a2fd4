"""Where a message and each copy stand: one rule (messaging.models), the same on every page, in the API
and in the database's answer to a filter."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from messaging.models import Message, MessageState, Progress, Recipient, ScanState

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_of_each(hold_message, make_user):
    """A message in every state the sender can see, the early-purged one included (kept short of its
    expiry, its content destroyed by a retention rule)."""
    sender = make_user("sender@example.com")
    now = timezone.now()
    made = {}
    for name, fields in {
        "open": {},
        "recalled": {"revoked_at": now},
        "expired": {"expires_at": now - timedelta(minutes=1)},
        "purged": {"purged_at": now},
        "quarantined": {"scan": ScanState.INFECTED},
        "too large": {"scan": ScanState.TOO_LARGE},
        "scanning": {"scan": ScanState.PENDING},
    }.items():
        message = hold_message(sender=sender, subject=name)
        Message.objects.filter(pk=message.pk).update(**fields)
        made[name] = Message.objects.get(pk=message.pk)
    return sender, made


def test_the_database_and_the_model_agree_on_every_state(one_of_each):
    _sender, made = one_of_each
    expected = {
        "open": MessageState.OPEN,
        "recalled": MessageState.RECALLED,
        "expired": MessageState.EXPIRED,
        "purged": MessageState.EXPIRED,
        "quarantined": MessageState.QUARANTINED,
        "too large": MessageState.QUARANTINED,
        "scanning": MessageState.SCANNING,
    }
    assert {name: m.state for name, m in made.items()} == expected
    for state in MessageState:
        found = set(Message.objects.in_state(state).values_list("subject", flat=True))
        assert found == {name for name, s in expected.items() if s == state}, state


def test_the_api_filters_and_shows_the_same_state_the_sender_page_shows(one_of_each, client):
    sender, made = one_of_each
    out = io.StringIO()
    call_command("api_key", "create", "--name", "app", "--account", sender.email, "--scopes", "messages:read",
                 stdout=out)  # fmt: skip
    auth = {"HTTP_AUTHORIZATION": f"Bearer {out.getvalue().strip()}"}
    expired = client.get("/api/v1/messages/?status=expired", **auth).json()["results"]
    assert sorted(m["subject"] for m in expired) == ["expired", "purged"]
    assert {m["recipients"][0]["status"] for m in expired} == {Progress.EXPIRED}
    quarantined = client.get("/api/v1/messages/?status=quarantined", **auth).json()["results"]
    assert sorted(m["subject"] for m in quarantined) == ["quarantined", "too large"]
    client.force_login(sender)
    page = client.get(f"/messages/{made['scanning'].public_id}/").content.decode()
    assert str(Progress.SCANNING.label) in page
    page = client.get(f"/messages/{made['purged'].public_id}/").content.decode()
    assert '<span class="status">expired</span>' in page


def test_a_message_is_not_there_for_its_recipient_until_it_is_scanned_clean(hold_message, client):
    message = hold_message()
    reader = Recipient.objects.get(message=message).user
    Message.objects.filter(pk=message.pk).update(scan=ScanState.PENDING)
    client.force_login(reader)
    assert client.get(f"/messages/{message.public_id}/").status_code == 404
    assert message.subject not in client.get("/").content.decode()
    Message.objects.filter(pk=message.pk).update(scan=ScanState.CLEAN)
    assert client.get(f"/messages/{message.public_id}/").status_code == 200
    assert message.subject in client.get("/").content.decode()
