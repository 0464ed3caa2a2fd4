"""The mailbox with a million held messages against the same pages with a thousand (PostgreSQL).

Run by `make bench`; writes its section of bench/RESULTS.md. Needs a PostgreSQL server:
BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres), where it makes its own databases.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import sized, write_section  # noqa: E402
from bench.run import ROOT, free_port, log_in, manage, portal_environment, wait_for, wrk  # noqa: E402

SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
GOAL = 1.5
PAGE = 50


def database(name):
    import psycopg

    with psycopg.connect(SERVER, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    return SERVER.rsplit("/", 1)[0] + "/" + name


def drop(name):
    import psycopg

    with psycopg.connect(SERVER, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def measure(label, to_reader, from_reader, others, deep_page):
    """Requests a second on the reader's pages, in a database of this size."""
    name = f"portal_bench_mailbox_{label}"
    env = portal_environment(Path(tempfile.mkdtemp(prefix="portal-bench-mailbox-")), database(name))
    start = time.monotonic()
    print(
        manage(
            env,
            "shell",
            "-v",
            "0",
            "-c",
            f"from bench.mailbox_data import fill; fill({to_reader}, {from_reader}, {others})",
        )
    )
    filled = time.monotonic() - start
    cursor = manage(
        env,
        "shell",
        "-v",
        "0",
        "-c",
        "from messaging.models import Recipient; "
        "rows = Recipient.objects.filter(user__email='reader@example.com', folder='inbox')"
        ".order_by('-message_id').values_list('message_id', flat=True); "
        f"print(rows[{(deep_page - 1) * PAGE - 1}])",
    ).strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pages = {
        "inbox, first page": "/",
        "inbox, a deep page": f"/?before={cursor}",
        "search, a common word (every tenth subject)": "/?q=invoice",
        "search, a word in one message": "/?q=zebra",
        "Sent, first page": "/messages/sent/",
    }
    try:
        wait_for(f"{base}/healthz")
        cookie = log_in(base)
        wrk(f"{base}/", cookie, seconds=sized(3, 1))  # warm up both workers and the database's cache
        rates = {page: wrk(base + url, cookie)[0] for page, url in pages.items()}
    finally:
        server.terminate()
        server.wait()
        drop(name)
    return rates, filled


def main():
    small, small_fill = measure("small", sized(1_000, 60), sized(1_000, 60), 0, deep_page=sized(20, 2))
    big, big_fill = measure(
        "big", sized(10_000, 120), sized(10_000, 120), sized(980_000, 100), deep_page=sized(50, 2)
    )
    lines = [
        f"Measured by `make bench` (bench/mailbox.py) on {time.strftime('%Y-%m-%d')}, PostgreSQL, gunicorn "
        "with 2 sync workers, wrk with 8 connections for 10 s a page, on this machine "
        f"({os.cpu_count()} cores). The large database holds 1,000,000 messages (10,000 to the reader, "
        f"10,000 from the reader, 980,000 between 1,000 other people; made in SQL in {big_fill:.0f} s); the "
        "baseline, in the same run, holds 1,000 to the reader and 1,000 from them. The goal: each page "
        f"answers within {GOAL}x of the time of the same page in the small database.",
        "",
        "| page | 1,000,000 messages | 1,000 messages (baseline) | time ratio | goal ≤ 1.5 |",
        "|---|---|---|---|---|",
    ]
    for page in big:
        ratio = small[page] / big[page]
        lines.append(
            f"| {page} | {big[page]:.0f} req/s | {small[page]:.0f} req/s | {ratio:.2f} | "
            f"{'met' if ratio <= GOAL else 'not met'} |"
        )
    lines += [
        "",
        "The deep page is page 50 of the large mailbox and page 20, the last, of the small one: pages are",
        "cut by message id (keyset), so a page's cost does not grow with its number.",
    ]
    write_section("The mailbox with a million messages", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
