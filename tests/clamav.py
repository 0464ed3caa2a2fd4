"""A real clamd (Debian's clamav-daemon) on a loopback socket, with a signature database the test writes:
the EICAR test file's signature, and nothing from the internet."""

import contextlib
import socket
import subprocess
import time
from pathlib import Path

from .helpers import free_port

# The anti-malware industry's test file: harmless, and every scanner reports it.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Portal-Test-EICAR.UNOFFICIAL"

CONFIG = """
LocalSocket {socket}
TCPSocket {port}
TCPAddr 127.0.0.1
DatabaseDirectory {database}
Foreground yes
LogFile {folder}/clamd.log
PidFile {folder}/clamd.pid
{limits}
"""
# What deploy/install --with-clamav writes for the default MAX_UPLOAD_MB (2048).
ROOMY = "StreamMaxLength 2100M\nMaxFileSize 2100M\nMaxScanSize 4000M\nAlertExceedsMax yes"
# Debian's own clamd.conf (StreamMaxLength 25M, MaxFileSize 25M, MaxScanSize 100M, AlertExceedsMax false),
# scaled down 25 times so that a test's files are small.
DEBIAN_SCALED_DOWN = "StreamMaxLength 1M\nMaxFileSize 1M\nMaxScanSize 4M\nAlertExceedsMax false"


def answers(path):
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
            sock.sendall(b"zPING\0")
            return sock.recv(16).startswith(b"PONG")
    except OSError:
        return False


@contextlib.contextmanager
def clamd(folder, limits=ROOMY):
    """Yield (unix socket URL, tcp URL) of a clamd that knows the EICAR signature; stopped at the end.
    Its configuration file is `folder/clamd.conf`."""
    folder = Path(folder)
    database = folder / "db"
    database.mkdir(parents=True, exist_ok=True)
    (database / "portal-test.ndb").write_text(f"Portal-Test-EICAR:0:*:{EICAR.hex()}\n")
    path, port = folder / "clamd.sock", free_port()
    config = folder / "clamd.conf"
    config.write_text(CONFIG.format(socket=path, port=port, database=database, folder=folder, limits=limits))
    server = subprocess.Popen(
        ["/usr/sbin/clamd", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not answers(path):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    (folder / "clamd.log").read_text() if (folder / "clamd.log").exists() else ""
                )
            time.sleep(0.1)
        yield f"unix://{path}", f"tcp://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)
