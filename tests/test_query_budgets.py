"""Query budgets: each login step, the inbox, the message page and a download have a fixed most number
of queries, so that a regression fails the suite rather than a benchmark nobody runs."""

import io

import pytest
from django.test import Client

from messaging.holding import IncomingAttachment

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
# Inside a test's transaction every atomic block adds a SAVEPOINT and its RELEASE: the budgets count them.


@pytest.fixture(autouse=True)
def branding_cached(client):
    client.get("/login/")  # the branding is read once, then served from the cache


@pytest.fixture
def reader(make_user):
    return make_user("reader@example.com", PASSWORD, name="Rita Reader", language="en")


@pytest.fixture
def message(reader, hold_message):
    attachment = IncomingAttachment("figures.csv", "text/csv", io.BytesIO(b"a,b\n1,2\n"))
    return hold_message(["reader@example.com"], attachments=[attachment])


def test_each_login_step_keeps_its_query_budget(reader, django_assert_max_num_queries):
    client = Client()
    with django_assert_max_num_queries(0):
        client.get("/login/")
    with django_assert_max_num_queries(5):  # the account, the profiles, the new session (and its savepoints)
        page = client.post("/login/", {"step": "identify", "email": "reader@example.com"})
    assert page.status_code == 200 and 'name="password"' in page.content.decode()  # no redirect to it
    with django_assert_max_num_queries(2):
        client.get("/login/")
    # 11 statements and their savepoints (the audit event and the session's index row since issue 23)
    with django_assert_max_num_queries(15):
        response = client.post("/login/", {"step": "verify", "password": PASSWORD})
    assert response["Location"] == "/"


def test_a_refused_attempt_at_a_locked_address_keeps_its_budget(
    reader, settings, django_assert_max_num_queries
):
    settings.LOCKOUT_FAILURES_PER_ADDRESS = 1
    client = Client()
    client.post("/login/", {"step": "identify", "email": "reader@example.com"})
    client.post("/login/", {"step": "verify", "password": "a wrong guess"})
    with django_assert_max_num_queries(8):  # 12 before issue 18; the audit event since issue 23
        client.post("/login/", {"step": "verify", "password": PASSWORD})


def test_signed_in_pages_keep_their_budgets(reader, message, django_assert_max_num_queries):
    client = Client()
    client.force_login(reader)
    with django_assert_max_num_queries(4):
        assert client.get("/").status_code == 200
    with django_assert_max_num_queries(9):  # the open's audit event since issue 23
        assert client.get(f"/messages/{message.public_id}/").status_code == 200
    attachment = message.attachments.get()
    with django_assert_max_num_queries(7):  # the download's audit event since issue 23
        response = client.get(f"/messages/{message.public_id}/attachments/{attachment.public_id}/")
        assert b"".join(response.streaming_content) == b"a,b\n1,2\n"
