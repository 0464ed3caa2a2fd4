"""Large attachments: a big upload through Compose on a real gunicorn, with its workers' memory watched;
the upload's progress and its size limit in a real Chromium."""

import hashlib
import http.client
import http.cookiejar
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from messaging.models import Message

from .helpers import gunicorn, manage

UPLOAD_MIB = 256  # the bench sends 1 GiB (bench/RESULTS.md); this keeps the suite quick
GROWTH_LIMIT_MIB = 64


def workers_of(port):
    """The gunicorn processes serving that port (the master and its workers), by their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "gunicorn" in command and f"127.0.0.1:{port}" in command:
                found.append(int(entry.name))
    return found


def resident_mib(pid):
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


class Watch(threading.Thread):
    """Samples the resident memory of each process every tenth of a second; the most each reached."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.most, self.running = pids, dict.fromkeys(pids, 0.0), True

    def run(self):
        while self.running:
            for pid in self.pids:
                self.most[pid] = max(self.most[pid], resident_mib(pid))
            time.sleep(0.1)


def logged_in(base, address, password):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def post(path, fields):
        page = opener.open(f"{base}{path}", timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = urllib.request.Request(f"{base}{path}", data=data, headers={"Referer": f"{base}{path}"})
        return opener.open(request, timeout=30).read().decode()

    post("/login/", {"step": "identify", "email": address})
    post("/login/", {"step": "verify", "password": password})
    page = opener.open(f"{base}/messages/new/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)
    return opener, token, cookies


def multipart(token, size, block):
    """The compose form with one file of `size` bytes, as (boundary, length, a generator of its bytes)."""
    boundary = "portal-test-boundary-" + os.urandom(8).hex()
    fields = {
        "csrfmiddlewaretoken": token,
        "to": "client@outside.example",
        "subject": "The archive",
        "body": "The whole archive, attached.",
        "expiry": "7",
    }
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename="archive.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        for start in range(0, size, len(block)):
            yield block[: min(len(block), size - start)]
        yield tail

    return boundary, len(head) + size + len(tail), body()


@pytest.mark.django_db(transaction=True)
def test_a_large_upload_through_compose_keeps_the_workers_memory_flat(separate_database, tmp_path):
    env = separate_database
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "collectstatic", "--no-input", "-v0")
    manage({**env, "DJANGO_SUPERUSER_PASSWORD": "correct horse battery"}, "createsuperuser", "--no-input",
           "--email", "staff@example.com")  # fmt: skip
    size, block = UPLOAD_MIB * 1024 * 1024, os.urandom(1024 * 1024)
    expected = hashlib.sha256()
    for start in range(0, size, len(block)):
        expected.update(block[: min(len(block), size - start)])
    with gunicorn(env, "--workers", "2", "--timeout", "300") as base:
        port = int(base.rsplit(":", 1)[1])
        opener, token, cookies = logged_in(base, "staff@example.com", "correct horse battery")
        pids = workers_of(port)
        before = {pid: resident_mib(pid) for pid in pids}
        watch = Watch(pids)
        watch.start()
        boundary, length, body = multipart(token, size, block)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        connection.putrequest("POST", "/messages/new/")
        for name, value in {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
            "Cookie": cookies,
            "Referer": f"{base}/messages/new/",
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        for chunk in body:
            connection.send(chunk)
        answer = connection.getresponse()
        answer.read()
        watch.running = False
        watch.join()
        assert answer.status == 302, answer.status
        location = answer.getheader("Location")
        growth = max(watch.most[pid] - before[pid] for pid in pids)
        assert growth < GROWTH_LIMIT_MIB, (before, watch.most)
        # The file comes back byte for byte, decrypted as it streams.
        page = opener.open(f"{base}{location}", timeout=30).read().decode()
        link = re.search(r'href="([^"]+/attachments/[^"]+/)"', page).group(1)
        got = hashlib.sha256()
        with opener.open(f"{base}{link}", timeout=300) as download:
            while chunk := download.read(1024 * 1024):
                got.update(chunk)
        assert got.hexdigest() == expected.hexdigest()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_compose_shows_each_files_progress_and_refuses_files_too_large_before_sending(
    page, make_user, settings, tmp_path
):
    make_user("staff@example.com", "correct horse battery", name="Sam Staff")
    settings.MAX_UPLOAD_MB = 1
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto("/login/")
    page.get_by_label("Email address").fill("staff@example.com")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.goto("/messages/new/")
    big, small = tmp_path / "big.bin", tmp_path / "notes.txt"
    big.write_bytes(os.urandom(1024 * 1024 + 1))
    small.write_bytes(b"notes")
    page.get_by_role("textbox", name="To").fill("client@outside.example")
    page.get_by_role("textbox", name="Subject").fill("Two files")
    page.get_by_role("textbox", name="Message").fill("See attached.")
    page.get_by_label("7 days").check()
    page.get_by_label("Attachments", exact=True).set_input_files([str(big), str(small)])
    expect(page.get_by_role("alert")).to_contain_text("The files are larger than the 1 MB a message may hold")
    expect(page.get_by_text("big.bin (1.0 MB)")).to_be_visible()
    page.get_by_role("button", name="Send securely").click()
    assert not Message.objects.exists()  # nothing was sent
    page.get_by_label("Attachments", exact=True).set_input_files([str(small)])
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_role("button", name="Send securely").click()
    expect(page.get_by_role("heading", name="Two files")).to_be_visible()
    assert Message.objects.get().attachments.get().filename == "notes.txt"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
