"""Guessing limits: an address or a client that keeps failing is locked, across every process."""

import concurrent.futures
import http.cookiejar
import io
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts import throttle
from accounts.models import LoginAttempt, Throttle
from messaging import limits

from .helpers import GENERIC_FAILURE, gunicorn, last_attempt, log_in, manage

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def fail_times(address, count, ip="10.0.0.1"):
    for _ in range(count):
        log_in(Client(REMOTE_ADDR=ip), address, "a wrong guess")


def test_ten_failures_lock_the_address_even_for_the_right_password(make_user):
    make_user("staff@example.com", "correct horse battery")
    fail_times("staff@example.com", 10)
    page = log_in(Client(), "staff@example.com", "correct horse battery").content.decode()
    assert GENERIC_FAILURE in page
    attempt = last_attempt()
    assert attempt.reason == "locked_out" and attempt.reference in page
    assert LoginAttempt.objects.filter(reason="bad_password").count() == 10


def test_nine_failures_do_not_lock_and_a_success_in_between_is_not_counted(make_user):
    make_user("staff@example.com", "correct horse battery")
    fail_times("staff@example.com", 9)
    assert "Welcome" in log_in(Client(), "staff@example.com", "correct horse battery").content.decode()
    # The tenth failure within the window locks, whatever succeeded in between.
    fail_times("staff@example.com", 1)
    log_in(Client(), "staff@example.com", "correct horse battery")
    assert last_attempt().reason == "locked_out"


def test_unknown_addresses_are_locked_too(db):
    fail_times("nobody@example.com", 11)
    assert last_attempt().reason == "locked_out"


def test_the_lock_lasts_fifteen_minutes(make_user):
    make_user("staff@example.com", "correct horse battery")
    fail_times("staff@example.com", 10)
    with time_machine.travel(timezone.now() + timedelta(minutes=14)):
        log_in(Client(), "staff@example.com", "correct horse battery")
        assert last_attempt().reason == "locked_out"
    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=5)):
        response = log_in(Client(), "staff@example.com", "correct horse battery")
        assert "Welcome" in response.content.decode()


def test_failures_older_than_the_window_do_not_count(make_user):
    make_user("staff@example.com", "correct horse battery")
    fail_times("staff@example.com", 9)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        fail_times("staff@example.com", 9)
        assert "Welcome" in log_in(Client(), "staff@example.com", "correct horse battery").content.decode()


def test_counters_that_no_longer_count_are_forgotten_and_locks_are_kept(make_user):
    make_user("staff@example.com", "correct horse battery")
    fail_times("nobody@example.com", 1, ip="10.0.0.2")
    fail_times("staff@example.com", 10, ip="10.0.0.3")
    assert Throttle.objects.count() == 4
    with time_machine.travel(timezone.now() + timedelta(minutes=14)):
        call_command("purge_expired", stdout=io.StringIO())
        assert Throttle.objects.count() == 4  # still counting
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        fail_times("staff@example.com", 1, ip="10.0.0.3")  # the lock ran out: a new window starts
        out = io.StringIO()
        call_command("purge_expired", stdout=out)
        assert "Forgot 2 guessing-limit counters" in out.getvalue()
        assert set(Throttle.objects.values_list("key", flat=True)) == {"staff@example.com", "10.0.0.3"}


def test_an_hours_allowance_is_not_forgotten_when_the_lockout_window_is_over(make_user, settings):
    """purge_expired forgot every counter older than LOCKOUT_MINUTES, the hour's allowances too: a
    recipient's notification, resent twice, could be resent three more times a quarter-hour later."""
    settings.RESEND_PER_RECIPIENT_PER_HOUR = 3
    assert throttle.take(limits.Scope.RESEND, "42") and throttle.take(limits.Scope.RESEND, "42")
    with time_machine.travel(timezone.now() + timedelta(minutes=20)):
        call_command("purge_expired", stdout=io.StringIO())
        assert Throttle.objects.get(key="42").get_scope_display() == "Notifications sent again to a recipient"
        assert throttle.take(limits.Scope.RESEND, "42")
        assert not throttle.take(limits.Scope.RESEND, "42")  # three in the hour, not five
    with time_machine.travel(timezone.now() + timedelta(minutes=81)):
        call_command("purge_expired", stdout=io.StringIO())
        assert not Throttle.objects.filter(key="42").exists()
        assert throttle.take(limits.Scope.RESEND, "42")


def test_fifty_failures_from_one_client_lock_that_client(make_user, settings):
    make_user("staff@example.com", "correct horse battery")
    for i in range(50):
        fail_times(f"guess{i}@example.com", 1, ip="203.0.113.9")
    log_in(Client(REMOTE_ADDR="203.0.113.9"), "staff@example.com", "correct horse battery")
    assert last_attempt().reason == "locked_out"
    # Another client is not affected.
    response = log_in(Client(REMOTE_ADDR="198.51.100.7"), "staff@example.com", "correct horse battery")
    assert "Welcome" in response.content.decode()


def test_a_locked_attempt_is_refused_before_any_hashing(make_user):
    make_user("staff@example.com", "correct horse battery")
    fail_times("staff@example.com", 10)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        log_in(Client(), "staff@example.com", "another guess")
        timings.append(time.perf_counter() - start)
    assert last_attempt().reason == "locked_out"
    # An Argon2 hash alone costs ~30 ms; a refused attempt costs far less than one login.
    unlocked = []
    for _ in range(5):
        start = time.perf_counter()
        log_in(Client(), "other@example.com", "another guess")
        unlocked.append(time.perf_counter() - start)
    assert min(timings) < min(unlocked)


def test_an_administrator_sees_and_lifts_a_lockout(client, make_user):
    make_user("admin@example.com", "correct horse battery", is_staff=True, is_superuser=True)
    log_in(client, "admin@example.com", "correct horse battery")
    make_user("staff@example.com", "correct horse battery")
    fail_times("staff@example.com", 10)

    page = client.get("/admin/accounts/throttle/").content.decode()
    assert "staff@example.com" in page
    row = Throttle.objects.get(scope="address", key="staff@example.com")
    client.post("/admin/accounts/throttle/", {"action": "lift", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert not row.is_locked and row.lifted_by == "admin@example.com"
    assert "Welcome" in log_in(Client(), "staff@example.com", "correct horse battery").content.decode()


# Several server processes against one database: the limit holds across all of them.


def _one_wrong_login(base, address):
    """A whole login as a browser does it, over HTTP: the page, the address, a wrong password."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    for fields in ({"step": "identify", "email": address}, {"step": "verify", "password": "a wrong guess"}):
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = urllib.request.Request(f"{base}/login/", data=data, headers={"Referer": f"{base}/login/"})
        page = opener.open(request, timeout=30).read().decode()
    return GENERIC_FAILURE in page


@pytest.mark.django_db(transaction=True)
def test_parallel_failures_on_several_server_processes_are_counted_exactly(separate_database, tmp_path):
    env = separate_database
    server_log = tmp_path / "gunicorn.log"
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "collectstatic", "--no-input", "-v0")
    env_user = {**env, "DJANGO_SUPERUSER_PASSWORD": "correct horse battery"}
    manage(env_user, "createsuperuser", "--no-input", "--email", "staff@example.com")
    with server_log.open("w") as log, gunicorn(env, "--workers", "4", "--threads", "2", log=log) as base:
        with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
            try:
                answers = list(pool.map(lambda _: _one_wrong_login(base, "staff@example.com"), range(20)))
            except urllib.error.HTTPError as error:
                raise AssertionError(server_log.read_text()[-3000:]) from error
    assert all(answers)
    counted = manage(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        (
            "from accounts.models import LoginAttempt as A, Throttle as T;"
            "print(A.objects.filter(reason='bad_password').count(),"
            " A.objects.filter(reason='locked_out').count(),"
            " T.objects.get(scope='address').failures)"
        ),
    ).split()
    # Exactly ten passwords were checked; the other ten were refused before any hashing.
    assert counted == ["10", "10", "10"]
