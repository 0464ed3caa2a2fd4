"""A backup that was tested: pg_dump of a database with held messages and attachments (on disk, in a
bucket), restored into a new database, opens every message with the same PORTAL_KEKS, and none without."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import TEST_KEK
from .helpers import free_port, manage
from .postgres_cluster import Cluster, _binary

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent

HOLD = """
import io
from messaging.holding import IncomingAttachment, hold
for n in range(3):
    hold(sender="sender@example.com", recipients=["client@outside.example"], subject=f"Figures {n}",
        text="Confidential figures " * 50, source="admin",
        attachments=[IncomingAttachment(f"f{n}.bin", "application/pdf", io.BytesIO(bytes(range(256)) * 400))])
from messaging.models import Message
print(Message.objects.count())
"""


@pytest.fixture(scope="module")
def cluster():
    server = Cluster(free_port())
    server.create()
    yield server
    server.destroy()


def psql_tool(name, *args):
    return subprocess.run([_binary(name), *args], check=True, capture_output=True, text=True, timeout=300)


@pytest.fixture(params=["disk", "bucket"])
def storage(request, tmp_path, object_store_server):
    if request.param == "disk":
        return {"MEDIA_ROOT": str(tmp_path / "media")}
    return object_store_server.environment(object_store_server.new_bucket())


def test_a_restored_dump_opens_every_message_with_the_keys_and_none_without(cluster, storage, tmp_path):
    name = f"portal_{free_port()}"
    psql_tool("createdb", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", name)
    base = cluster.url.rsplit("/", 1)[0]
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(
        storage, DATABASE_URL=f"{base}/{name}", PORTAL_KEKS=TEST_KEK, CACHE_DIR=str(tmp_path / "cache")
    )
    manage(env, "migrate", "--no-input", "-v0")
    assert manage(env, "shell", "-v", "0", "-c", HOLD).strip() == "3"

    dump = tmp_path / "portal.dump"
    psql_tool(
        "pg_dump", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-Fc", "-f", str(dump), name
    )
    restored = f"{name}_restored"
    psql_tool("createdb", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", restored)
    psql_tool(
        "pg_restore", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-d", restored, str(dump)
    )

    from_backup = {**env, "DATABASE_URL": f"{base}/{restored}"}
    assert "3 messages and 3 attachments open; 0 do not." in manage(from_backup, "backup_check")

    other_keys = {**from_backup, "PORTAL_KEKS": "other:" + "o" * 43}
    refused = subprocess.run(
        [sys.executable, "manage.py", "backup_check"],
        cwd=ROOT,
        env=other_keys,
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0
    assert "0 messages and 0 attachments open; 3 do not." in refused.stdout
