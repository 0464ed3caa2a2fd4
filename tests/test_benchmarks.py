"""Every benchmark runs, on tiny sizes (BENCH_SMOKE): `make bench` stopped half-way for months once, and
nobody knew. The figures of a smoke run mean nothing; that each script gets to its section does."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from .helpers import free_port
from .postgres_cluster import Cluster

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = {
    "bench/run.py": ["Held messages: opening, downloading, the intake"],
    "bench/mailbox.py": ["The mailbox with a million messages"],
    "bench/load.py": ["Logins: the CPU they cost", "Mixed load: 50 clients for 60 seconds"],
    "bench/intake_uploads.py": ["What comes in: the spool, notifications, large uploads"],
    "bench/api.py": ["The REST API against the intake"],
}


@pytest.fixture(scope="module")
def postgres():
    """A server of their own for the benchmarks that need PostgreSQL (they make and drop databases)."""
    server = Cluster(free_port())
    server.create()
    yield server.url.rsplit("/", 1)[0] + "/postgres"
    server.destroy()


def new_database(server, name):
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


@pytest.mark.parametrize("script", BENCHMARKS)
def test_the_benchmark_runs_through_and_writes_its_section(script, postgres, tmp_path):
    results = ROOT / "bench" / "RESULTS.md"
    before = results.read_text()
    outside = {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in outside}
    env.update(BENCH_SMOKE=str(tmp_path), BENCH_POSTGRES=postgres, BENCH_REDIS="redis://127.0.0.1:1/0")
    # bench/run.py and bench/api.py run on SQLite by default, on PostgreSQL when asked: the suite's
    # PostgreSQL round asks. (mailbox.py and load.py always run on PostgreSQL.)
    on_postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    if script == "bench/run.py" and not on_postgres:
        del env["BENCH_POSTGRES"]
    if script == "bench/api.py" and on_postgres:
        env["BENCH_DATABASE_URL"] = new_database(postgres, "bench_api")
    run = subprocess.run(
        [sys.executable, script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    written = "\n".join(path.read_text() for path in tmp_path.glob("RESULTS*.md"))
    for heading in BENCHMARKS[script]:
        assert f"## {heading}" in written
    assert results.read_text() == before  # the measured figures are left alone
