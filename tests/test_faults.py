"""Faults a deployment meets: parallel workers and intakes, the relay away, a worker killed, the database
stopped. Real processes, a real SMTP relay on loopback, a throwaway PostgreSQL cluster."""

import asyncio
import collections
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest

from .conftest import Mailbox
from .helpers import free_port, gunicorn, manage, wait_until_listening
from .postgres_cluster import Cluster

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent


class Processes:
    """Portal processes (intakes, workers) started for one test, stopped at its end."""

    def __init__(self, env):
        self.env, self.running, self.workers = env, [], []  # workers: (process, its metrics port)

    def start(self, *command, **env):
        process = subprocess.Popen(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.running.append(process)
        return process

    def intake(self):
        port = free_port()
        self.start("smtp_intake", "--port", str(port))
        wait_until_listening(port)
        return port

    def worker(self, **env):
        port = free_port()
        process = self.start("worker", "--interval", "0.2", "--metrics-port", str(port), **env)
        self.workers.append((process, port))
        wait_until_listening(port)
        return process

    def drain(self, relay, seconds=60):
        """Wait until the workers are idle: a whole round of each one's email job, begun after the last
        email arrived, sent nothing more (rather than sleeping and hoping a duplicate shows by then)."""
        deadline = time.monotonic() + seconds
        while True:
            arrived = len(relay.messages)
            began = {port: email_rounds(port) for process, port in self.workers if process.poll() is None}
            wait_for(lambda began=began: rounds_since(began) >= 2, deadline - time.monotonic(), "idle")
            if len(relay.messages) == arrived:
                return

    def stop(self):
        for process in self.running:
            if process.poll() is None:
                process.terminate()
        for process in self.running:
            process.wait(timeout=30)


@pytest.fixture
def relay():
    box = Mailbox()
    box.start(free_port())
    yield box
    if box.controller is not None:
        box.controller.stop()


@pytest.fixture
def portal(separate_database, relay):
    """A migrated database of its own and a way to start portal processes that mail through `relay`."""
    env = {**separate_database, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(relay.port)}
    manage(env, "migrate", "--no-input", "-v0")
    processes = Processes(env)
    yield processes
    processes.stop()


def send(port, recipient, subject):
    """One message to the intake: the SMTP reply code it gave."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "sender@example.com", recipient, subject
    mail.set_content(f"About {subject}.")
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.send_message(mail)
    except smtplib.SMTPResponseException as refusal:
        return refusal.smtp_code
    except smtplib.SMTPRecipientsRefused as refusal:
        return next(iter(refusal.recipients.values()))[0]
    return 250


def hold_for_staff(env, count):
    """`count` messages, each to a staff member who already has a password (one email each)."""
    manage(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        "from messaging.holding import hold; from accounts.models import User\n"
        f"for i in range({count}):\n"
        "    User.objects.create_user(f'person{i}@example.com', password='correct horse battery')\n"
        "    hold(sender='sender@example.com', recipients=[f'person{i}@example.com'],"
        " subject=f'Message {i}', source='admin')",
    )


def notifications(relay):
    """How many new-message notifications each address received."""
    return collections.Counter(m["To"] for m in relay.messages if "secure message from" in m["Subject"])


def email_rounds(port):
    """How many rounds the email job of the worker with this metrics port has finished."""
    found = re.search(r'^portal_worker_job_rounds_total\{job="emails"\} (\S+)$', scrape(port), re.M)
    return float(found.group(1)) if found else 0.0


def rounds_since(began):
    """The fewest rounds any worker's email job started since `began` ({metrics port: rounds then})."""
    return min((email_rounds(port) - rounds for port, rounds in began.items()), default=2)


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_two_workers_and_two_intakes_send_every_notification_once(portal, relay):
    intakes = [portal.intake(), portal.intake()]
    portal.worker()
    portal.worker()
    replies = [send(intakes[i % 2], f"client{i}@outside.example", f"Message {i}") for i in range(20)]
    assert replies == [250] * 20
    wait_for(lambda: len(relay.messages) >= 40, 60, "20 notifications and 20 temporary passwords")
    portal.drain(relay)  # a duplicate, were there one, would have shown by then
    assert notifications(relay) == {f"client{i}@outside.example": 1 for i in range(20)}
    passwords = collections.Counter(m["To"] for m in relay.messages if "password" in m["Subject"].lower())
    assert passwords == {f"client{i}@outside.example": 1 for i in range(20)}


def test_the_relay_away_for_30_seconds_delays_every_notification_and_loses_none(portal, relay):
    hold_for_staff(portal.env, 5)
    relay.go_down()
    portal.worker(NOTIFICATION_RETRY_SECONDS="1")
    time.sleep(30)
    assert relay.messages == []
    relay.come_back()
    wait_for(lambda: len(relay.messages) >= 5, 60, "the five notifications after the relay came back")
    portal.drain(relay)
    assert notifications(relay) == {f"person{i}@example.com": 1 for i in range(5)}


class SlowRelay(Mailbox):
    """A relay that takes its time over each message, so that a worker can be caught in the middle."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.3)
        return await super().handle_DATA(server, session, envelope)


def test_a_worker_killed_mid_batch_loses_nothing(separate_database):
    relay = SlowRelay()
    relay.start(free_port())
    env = {**separate_database, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(relay.port)}
    manage(env, "migrate", "--no-input", "-v0")
    processes = Processes(env)
    try:
        hold_for_staff(env, 20)
        first = processes.worker()
        wait_for(lambda: len(relay.messages) >= 5, 60, "the first five notifications")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        sent_before = len(relay.messages)
        processes.worker()
        wait_for(
            lambda: set(notifications(relay)) >= {f"person{i}@example.com" for i in range(20)}, 60, "all"
        )
        processes.drain(relay)
    finally:
        processes.stop()
        relay.controller.stop()
    counts = notifications(relay)
    assert set(counts) == {f"person{i}@example.com" for i in range(20)}  # nobody lost
    # At most the one email the relay had accepted when the worker died, before it could record that.
    assert sum(counts.values()) - 20 <= 1, (sent_before, counts)
    unsent = manage(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        "from messaging.models import Notification; print(Notification.objects.filter(sent_at=None).count())",
    )
    assert unsent.strip() == "0"


def test_postgresql_stopped_and_started_while_mail_arrives(relay, tmp_path):
    """The intake answers 451 while the database is away and 250 only after the commit; every message
    acknowledged with 250 is held and notified."""
    from .conftest import TEST_KEK

    cluster = Cluster(free_port())
    cluster.create()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG"}},
        "DATABASE_URL": cluster.url,
        "PORTAL_KEKS": TEST_KEK,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(relay.port),
        "DATABASE_CONN_MAX_AGE": "60",
    }
    processes = Processes(env)
    accepted, refused, stop = [], [], threading.Event()

    def mail_server():
        """As the organisation's mail server does: each message is offered until it is accepted."""
        queue = collections.deque(f"Message {i}" for i in range(400))
        while queue and not stop.is_set():
            subject = queue[0]
            code = send(port, f"{subject.replace(' ', '')}@outside.example", subject)
            if code == 250:
                accepted.append(queue.popleft())
            else:
                refused.append(code)
                time.sleep(0.3)
            time.sleep(0.05)

    try:
        manage(env, "migrate", "--no-input", "-v0")
        port = processes.intake()
        processes.worker(NOTIFICATION_RETRY_SECONDS="1")
        sender = threading.Thread(target=mail_server)
        sender.start()
        wait_for(lambda: len(accepted) >= 10, 60, "ten messages before the outage")
        cluster.stop()
        time.sleep(4)
        during = len(accepted)
        cluster.start()
        wait_for(lambda: len(accepted) >= during + 10, 60, "ten messages after the outage")
        stop.set()
        sender.join(timeout=60)
        assert refused and set(refused) == {451}  # the outage was noticed, and said honestly
        wait_for(lambda: len(notifications(relay)) >= len(accepted), 60, "every notification")
        held = manage(
            env,
            "shell",
            "-v",
            "0",
            "-c",
            "from messaging.models import Message\n"
            "print('|'.join(Message.objects.values_list('subject', flat=True)))",
        ).strip()
    finally:
        stop.set()
        processes.stop()
        cluster.destroy()
    assert sorted(held.split("|")) == sorted(accepted)  # each acknowledged message held, once
    expected = {f"{subject.replace(' ', '').lower()}@outside.example" for subject in accepted}
    assert set(notifications(relay)) == expected


def test_with_the_database_unreachable_pages_say_try_again_shortly_with_a_503(tmp_path):
    """Every page was a 500 "Something went wrong"; a database away is a 503, Retry-After, one log line."""
    from .conftest import TEST_KEK

    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG"}},
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/portal",  # nobody listens there
        "PORTAL_KEKS": TEST_KEK,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "CACHE_DIR": str(tmp_path / "cache"),
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    manage(env, "collectstatic", "--no-input", "-v0")  # as the installer does: the pages need the manifest
    log = (tmp_path / "web.log").open("w+")
    with gunicorn(env, log=log) as base:
        # A signed-in person's next page (the session is read from the database), and a message link.
        signed_in = {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}
        for path, headers in (("/", signed_in), ("/security/", signed_in), ("/m/" + "A" * 43 + "/", {})):
            try:
                urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=30)
            except urllib.error.HTTPError as answer:
                page = answer.read().decode()
                assert answer.code == 503, (path, page[:500])
                assert answer.headers["Retry-After"] == "30"
                assert "The portal is briefly unavailable" in page and "try again in a minute" in page
            else:
                raise AssertionError(f"{path} answered 200 without a database")
    log.seek(0)
    lines = [line for line in log.read().splitlines() if "event=database_unavailable" in line]
    assert len(lines) == 3 and all("error=OperationalError" in line for line in lines)


class TricklingReceiver:
    """A webhook receiver that reads the request, then answers one byte every two seconds, for ever."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.server.settimeout(0.5)
        while not self.stop.is_set():
            try:
                connection, _address = self.server.accept()
            except OSError:
                continue
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection):
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * 100:
                if self.stop.wait(2):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self):
        self.stop.set()
        self.server.close()


def scrape(port):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()


def test_a_webhook_receiver_that_trickles_delays_no_notification(portal, relay):
    """It held the worker indefinitely (the timeout was per read), inside a transaction holding a row lock,
    while no notification went out."""
    receiver = TricklingReceiver()
    env = {**portal.env, "WEBHOOK_ALLOW_PRIVATE": "1", "WEBHOOK_TIMEOUT": "4"}
    portal.env = env
    manage(
        env, "shell", "-v", "0", "-c",
        "from api import webhooks; from api.models import WebhookEndpoint; from portal import audit\n"
        f"webhooks.save_endpoint(audit.SYSTEM, None, WebhookEndpoint(url='http://127.0.0.1:{receiver.port}/hooks',"
        " events=['message.held']))",
    )  # fmt: skip
    metrics_port = free_port()
    portal.start("worker", "--interval", "0.2", "--metrics-port", str(metrics_port))
    try:
        hold_for_staff(env, 1)
        wait_for(lambda: len(notifications(relay)) >= 1, 30, "the first notification")
        time.sleep(1)  # the worker is in the trickling receiver's hands now
        manage(
            env, "shell", "-v", "0", "-c",
            "from messaging.holding import hold; from accounts.models import User\n"
            "User.objects.create_user('later@example.com', password='correct horse battery')\n"
            "hold(sender='sender@example.com', recipients=['later@example.com'], subject='Later',"
            " source='admin')",
        )  # fmt: skip
        started = time.monotonic()
        wait_for(lambda: "later@example.com" in notifications(relay), 20, "the second notification")
        assert time.monotonic() - started < 5
        wait_until_listening(metrics_port)
        metrics = scrape(metrics_port)
        assert re.search(r'portal_worker_job_rounds_total\{job="emails"\} [1-9]', metrics)
        assert 'portal_queue_oldest_due_seconds{queue="webhookdelivery"}' in metrics
        deadline = time.monotonic() + 30
        error = ""
        while "no answer within 4 seconds" not in error and time.monotonic() < deadline:
            error = manage(
                env, "shell", "-v", "0", "-c",
                "from api.models import WebhookAttempt as A; print([a.error for a in A.objects.all()])",
            )  # fmt: skip
            time.sleep(0.5)
        assert "no answer within 4 seconds" in error  # cut off at the deadline, to be tried again
    finally:
        receiver.close()


def test_a_job_that_fails_every_round_is_one_warning_a_minute_and_counted(tmp_path):
    """With the database away every job fails every round: a traceback every 2 seconds filled the log."""
    from .conftest import TEST_KEK

    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG"}},
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/portal",
        "PORTAL_KEKS": TEST_KEK,
        "CACHE_DIR": str(tmp_path / "cache"),
    }
    metrics_port = free_port()
    log = (tmp_path / "worker.log").open("w+")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.1", "--metrics-port",
         str(metrics_port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until_listening(metrics_port)
        time.sleep(3)
        metrics = scrape(metrics_port)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    failures = re.search(r'portal_worker_job_failures_total\{job="emails"\} ([0-9.]+)', metrics)
    assert failures and float(failures.group(1)) >= 10
    log.seek(0)
    warnings = [line for line in log.read().splitlines() if "event=worker_job_failed" in line]
    jobs = [re.search(r"job=(\w+)", line).group(1) for line in warnings]
    assert sorted(jobs) == sorted(set(jobs)) and "emails" in jobs  # one line each, not one a round
    assert all("error=OperationalError" in line for line in warnings)
