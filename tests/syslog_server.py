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


class Rsyslog:
    """rsyslogd -n with UDP and TCP inputs on fixed loopback ports, stopped and started at will."""

    def __init__(self, folder):
        self.folder = Path(folder)
        work, self.out = self.folder / "work", self.folder / "received.log"
        work.mkdir(parents=True, exist_ok=True)
        self.udp, self.tcp = free_port(), free_port()
        self.config = self.folder / "rsyslog.conf"
        self.config.write_text(CONFIG.format(work=work, udp=self.udp, tcp=self.tcp, out=self.out))
        self.server = None

    def start(self):
        self.server = subprocess.Popen(
            ["/usr/sbin/rsyslogd", "-n", "-f", str(self.config), "-i", str(self.folder / "rsyslog.pid")],
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "rsyslog.err").open("a"),
        )
        wait_until_listening(self.tcp)

    def stop(self):
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)
            self.server = None


@contextlib.contextmanager
def rsyslog(folder):
    """A started Rsyslog; yields (udp port, tcp port, the file it writes)."""
    server = Rsyslog(folder)
    server.start()
    try:
        yield server.udp, server.tcp, server.out
    finally:
        server.stop()


def received(path, count=1, seconds=10):
    """The lines rsyslog wrote, once there are at least `count` of them."""
    deadline = time.monotonic() + seconds
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)
