"""The portal under load (PostgreSQL, gunicorn): a mixed load of 50 clients, and the CPU a login costs.

Run by `make bench`; writes its sections of bench/RESULTS.md. Needs PostgreSQL at BENCH_POSTGRES
(default postgres://postgres@127.0.0.1:5432/postgres), where it makes its own database.
"""

import http.cookiejar
import os
import random
import re
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import sized, write_section  # noqa: E402
from bench.run import PASSWORD, ROOT, free_port, manage, portal_environment, wait_for  # noqa: E402

SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
CLIENTS, PROCESSES, SECONDS = sized(50, 2), sized(5, 1), sized(60, 3)
USERS = sized(50, 2)
LOGINS = sized(100, 2)  # logins (and refusals, and hashes) whose CPU is averaged
THINK = (0.5, 1.5)  # seconds a person takes between two clicks
# What a client does next, with its weight: what people do in a mailbox, plus mail arriving.
ACTIONS = {"inbox": 30, "open": 30, "download": 10, "login": 10, "intake": 15, "healthz": 5}


def database():
    import psycopg

    with psycopg.connect(SERVER, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS portal_bench_load WITH (FORCE)")
        connection.execute("CREATE DATABASE portal_bench_load")
    return SERVER.rsplit("/", 1)[0] + "/portal_bench_load"


SETUP = f"""
import io
from accounts.models import User, portal_permission
from messaging.holding import IncomingAttachment, hold
sender = User.objects.create_user("sender@example.com", password=None)
User.objects.create_user("locked@example.com", password="{PASSWORD}").user_permissions.add(portal_permission())

for i in range({USERS}):
    u = User.objects.create_user(f"user{{i}}@example.com", password="{PASSWORD}", name=f"User {{i}}")
    u.user_permissions.add(portal_permission())
    for j in range(5):
        hold(sender=sender.email, sender_user=sender, recipients=[u.email], subject=f"Report {{j}}",
            text="Figures " * 300, source="admin",
            attachments=[IncomingAttachment("report.pdf", "application/pdf", io.BytesIO(bytes(100_000)))])
"""


class Person:
    """One client: a cookie jar, the person's address, the messages and downloads it found."""

    def __init__(self, base, intake_port, number):
        self.base, self.intake_port = base, intake_port
        self.email = f"user{number}@example.com"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.messages, self.downloads = [], []

    def get(self, path):
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode(errors="replace")

    def log_in(self):
        page = self.get("/login/?restart=1")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        for fields in ({"step": "identify", "email": self.email}, {"step": "verify", "password": PASSWORD}):
            data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
            request = urllib.request.Request(
                f"{self.base}/login/", data=data, headers={"Referer": f"{self.base}/login/"}
            )
            with self.opener.open(request, timeout=30) as response:
                page = response.read().decode(errors="replace")
        if "Welcome" not in page:
            raise RuntimeError("the login did not reach the inbox")
        self.messages = re.findall(r'href="(/messages/[0-9a-f-]{36}/)"', page)

    def act(self, action):
        if action == "login":
            self.opener = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
            )
            self.log_in()
        elif action == "inbox":
            self.messages = re.findall(r'href="(/messages/[0-9a-f-]{36}/)"', self.get("/")) or self.messages
        elif action == "open":
            page = self.get(random.choice(self.messages))
            self.downloads = (
                re.findall(r'href="(/messages/[^"]+/attachments/[^"]+/)"', page) or self.downloads
            )
        elif action == "download":
            if not self.downloads:
                self.act("open")
            self.get(random.choice(self.downloads))
        elif action == "healthz":
            self.get("/healthz")
        elif action == "intake":
            mail = EmailMessage()
            mail["From"], mail["To"] = "sender@example.com", self.email
            mail["Subject"] = f"Load {random.getrandbits(64):x}"
            mail.set_content("Load " * 2000)  # 10 KB
            with smtplib.SMTP("127.0.0.1", self.intake_port, timeout=30) as smtp:
                smtp.send_message(mail)
            return mail["Subject"]
        return None


def client_process(base, intake_port, first, count, deadline):
    """`count` clients on threads of one process: [(action, seconds, outcome)], subjects accepted."""
    results, accepted, lock = [], [], threading.Lock()

    def run(number):
        person = Person(base, intake_port, number)
        person.log_in()
        rng = random.Random(number)
        while time.time() < deadline:
            time.sleep(rng.uniform(*THINK))
            action = rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
            start = time.perf_counter()
            try:
                subject = person.act(action)
                outcome = "ok"
            except urllib.error.HTTPError as error:
                outcome, subject = f"http {error.code}", None
            except smtplib.SMTPResponseException as error:
                outcome, subject = f"smtp {error.smtp_code}", None
            except Exception as error:  # a refused or dropped connection counts as a failure
                outcome, subject = type(error).__name__, None
            with lock:
                results.append((action, time.perf_counter() - start, outcome))
                if subject:
                    accepted.append(subject)

    threads = [threading.Thread(target=run, args=(first + i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, accepted


def percentile(values, share):
    values = sorted(values)
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def cpu_seconds(pid):
    """User and system CPU seconds a process has used (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gunicorn_workers(master):
    return [int(c) for c in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def start(env, *command):
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def gunicorn(env, workers):
    port = free_port()
    process = start(
        env, str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "-b", f"127.0.0.1:{port}",
        "--workers", str(workers), "--backlog", "2048",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/healthz")
    return process, base


def mixed_load(env):
    sink_port, intake_port = free_port(), free_port()
    env = {**env, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(sink_port)}
    helpers = [
        start(env, sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{sink_port}", "-c",
              "aiosmtpd.handlers.Sink"),
        start(env, sys.executable, "manage.py", "smtp_intake", "--port", str(intake_port)),
        start(env, sys.executable, "manage.py", "worker"),
    ]  # fmt: skip
    server, base = gunicorn(env, 4)
    time.sleep(2)
    deadline = time.time() + SECONDS
    per_process = CLIENTS // PROCESSES
    try:
        with ProcessPoolExecutor(PROCESSES) as pool:
            futures = [
                pool.submit(client_process, base, intake_port, i * per_process, per_process, deadline)
                for i in range(PROCESSES)
            ]
            outcomes = [f.result() for f in futures]
        time.sleep(3)  # the last messages commit
        memory = [resident_mib(pid) for pid in gunicorn_workers(server.pid)]
    finally:
        for process in (server, *helpers):
            process.terminate()
            process.wait()
    results = [r for found, _ in outcomes for r in found]
    accepted = {s for _, subjects in outcomes for s in subjects}
    held = set(
        manage(
            env, "shell", "-v", "0", "-c",
            "from messaging.models import Message\n"
            "for s in Message.objects.filter(subject__startswith='Load ').values_list('subject', flat=True): print(s)",
        ).splitlines()
    )  # fmt: skip
    return results, accepted, held, memory


def resident_mib(pid):
    """A process's resident memory (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def login_cpu(env):
    """CPU seconds of the one gunicorn worker per login, per refused attempt at a locked address, and per
    Argon2id check alone (in this process)."""
    server, base = gunicorn(env, 1)
    worker = gunicorn_workers(server.pid)[0]
    person = Person(base, None, 0)
    try:
        person.log_in()  # warm up
        before = cpu_seconds(worker)
        for _ in range(LOGINS):
            person.act("login")
        per_login = (cpu_seconds(worker) - before) / LOGINS
        # Lock an address: ten wrong passwords, then 50 more attempts that are refused before any hashing.
        locked = Person(base, None, 0)
        locked.email = "locked@example.com"
        page = locked.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

        def post(fields):
            data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
            request = urllib.request.Request(
                f"{base}/login/", data=data, headers={"Referer": f"{base}/login/"}
            )
            with locked.opener.open(request, timeout=30) as response:
                return response.read().decode(errors="replace")

        post({"step": "identify", "email": locked.email})
        for _ in range(10):
            post({"step": "verify", "password": "wrong password here"})
        before = cpu_seconds(worker)
        for _ in range(LOGINS):
            post({"step": "verify", "password": PASSWORD})
        per_refusal = (cpu_seconds(worker) - before) / LOGINS
    finally:
        server.terminate()
        server.wait()
    hash_only = float(
        manage(
            env,
            "shell",
            "-v",
            "0",
            "-c",
            "import time\nfrom django.contrib.auth.hashers import check_password, make_password\n"
            f"h = make_password('{PASSWORD}'); start = time.process_time()\n"
            f"for _ in range({LOGINS}): check_password('{PASSWORD}', h)\n"
            f"print((time.process_time() - start) / {LOGINS})",
        )  # fmt: skip
    )
    return per_login, per_refusal, hash_only


def main():
    # 50 clients from one address: the per-client guessing limit is for attackers, not this benchmark.
    work = Path(tempfile.mkdtemp(prefix="portal-bench-load-"))
    env = portal_environment(work, database(), LOCKOUT_FAILURES_PER_CLIENT="100000")
    manage(env, "shell", "-v", "0", "-c", SETUP)

    per_login, per_refusal, hash_only = login_cpu(env)
    results, accepted, held, memory = mixed_load(env)
    write_login_results(per_login, per_refusal, hash_only)
    write_load_results(results, accepted, held, memory)


def write_login_results(per_login, per_refusal, hash_only):
    logins_per_core = 1 / per_login
    bound = 1 / hash_only
    lines = [
        f"Measured by `make bench` (bench/load.py) on {time.strftime('%Y-%m-%d')}, PostgreSQL, one gunicorn "
        f"sync worker, its CPU time read from /proc over {LOGINS} logins (each: the login page, the address, "
        "which answers with the password page, the password, the inbox it lands on). The baseline, in the same run: Django's check of one Argon2id "
        "password hash (m=19 MiB, t=2, p=1) alone, which bounds what any login can reach.",
        "",
        "| measure | measured | baseline (same run) | ratio | goal |",
        "|---|---|---|---|---|",
        f"| CPU per successful cloud-password login (every request of it) | {per_login * 1000:.1f} ms "
        f"({logins_per_core:.0f} logins/s per core) | the hash alone: {hash_only * 1000:.1f} ms ({bound:.0f}/s "
        f"per core) | {logins_per_core / bound:.2f} of the bound; the hash plus "
        f"{(per_login - hash_only) * 1000:.1f} ms | ≥ 0.75 of the bound (the hash plus 8 ms): "
        f"{'met' if logins_per_core / bound >= 0.75 else 'not met'} |",
        f"| CPU per refused attempt at a locked address | {per_refusal * 1000:.1f} ms | | | < 5 ms: "
        f"{'met' if per_refusal < 0.005 else 'not met'} |",
        "",
        "What a login costs beyond its hash, and what the refusal costs, is explained with the profile in "
        "'Where the time goes' below.",
    ]

    write_section("Logins: the CPU they cost", lines)
    print("\n".join(lines))


def write_load_results(results, accepted, held, memory):
    lines = [
        f"Measured by `make bench` (bench/load.py) on {time.strftime('%Y-%m-%d')}: {CLIENTS} clients "
        f"({PROCESSES} processes of {CLIENTS // PROCESSES} threads) for {SECONDS} s against gunicorn (4 sync "
        "workers), PostgreSQL, the SMTP intake and the notification worker, all on this machine "
        f"({os.cpu_count()} cores). Each client logged in first, then repeatedly waited "
        f"{THINK[0]}-{THINK[1]} s (a person reading) and did one of: "
        + ", ".join(f"{a} ({w}%)" for a, w in ACTIONS.items())
        + ". The baseline is `/healthz` under the same load.",
        "",
        "| kind | requests | per second | p50 | p99 | failures |",
        "|---|---|---|---|---|---|",
    ]
    failures = 0
    for action in ACTIONS:
        rows = [r for r in results if r[0] == action]
        times = [r[1] for r in rows]
        bad = [r[2] for r in rows if r[2] != "ok"]
        failures += len(bad)
        lines.append(
            f"| {action} | {len(rows)} | {len(rows) / SECONDS:.1f} | {percentile(times, 0.5) * 1000:.0f} ms | "
            f"{percentile(times, 0.99) * 1000:.0f} ms | {len(bad)}{' (' + ', '.join(sorted(set(bad))) + ')' if bad else ''} |"
        )
    slowest = max(percentile([r[1] for r in results if r[0] == a], 0.99) for a in ACTIONS if a != "healthz")
    server_errors = sum(1 for r in results if r[2].startswith("http 5"))
    lost = accepted - held
    lines += [
        "",
        f"- 5xx answers: {server_errors} (goal: none; {'met' if not server_errors else 'not met'}).",
        f"- Messages acknowledged with 250: {len(accepted)}; held: {len(accepted & held)}; lost: {len(lost)} "
        f"(goal: none; {'met' if not lost else 'not met'}).",
        f"- The slowest p99 of a kind: {slowest * 1000:.0f} ms (goal: under one second; "
        f"{'met' if slowest < 1 else 'not met'}).",
        f"- All {len(results)} requests: {statistics.fmean(r[1] for r in results) * 1000:.0f} ms on average.",
        f"- Resident memory of each of the 4 gunicorn workers after the {len(results)} mixed requests: "
        + ", ".join(f"{m:.0f} MiB" for m in memory)
        + f" (goal: under 120 MiB; {'met' if max(memory) < 120 else 'not met'}).",
    ]
    write_section("Mixed load: 50 clients for 60 seconds", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
