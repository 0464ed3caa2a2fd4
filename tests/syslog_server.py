"""A real rsyslog (Debian's) on loopback, in the foreground, writing what it receives to a file."""

import contextlib
import subprocess
import time
from pathlib import Path

from .helpers import free_port, wait_until_listening

CONFIG = """
global(workDirectory="{work}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="received" type="string" string="%PRI%|%APP-NAME%|%MSGID%|%msg%\\n")
*.* action(type="omfile" file="{out}" template="received")
"""


@contextlib.contextmanager
def rsyslog(folder):
    """rsyslogd -n with UDP and TCP inputs; yields (udp port, tcp port, the file it writes)."""
    folder = Path(folder)
    work, out = folder / "work", folder / "received.log"
    work.mkdir(parents=True, exist_ok=True)
    udp, tcp = free_port(), free_port()
    config = folder / "rsyslog.conf"
    config.write_text(CONFIG.format(work=work, udp=udp, tcp=tcp, out=out))
    server = subprocess.Popen(
        ["/usr/sbin/rsyslogd", "-n", "-f", str(config), "-i", str(folder / "rsyslog.pid")],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "rsyslog.err").open("w"),
    )
    try:
        wait_until_listening(tcp)
        yield udp, tcp, out
    finally:
        server.terminate()
        server.wait(timeout=10)


def received(path, count=1, seconds=10):
    """The lines rsyslog wrote, once there are at least `count` of them."""
    deadline = time.monotonic() + seconds
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)
