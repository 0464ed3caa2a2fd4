"""The worker's jobs: what each app needs done in the background registers here, by name.

`manage.py worker` runs every job in a thread of its own, each round after round, so that
one that waits (a webhook receiver that hangs, clamd busy with a large file, a relay that is slow) never
delays the others (a notification); `--once` runs each once, in order. A job that fails is counted
(`portal_worker_job_failures_total{job}`) and logged with its cause at most once a minute, not at every
round; the worker's own /metrics (`--metrics-port`) shows these and, from the database, how long the
oldest due row of each queue has waited.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import close_old_connections
from prometheus_client import Counter, Gauge

log = logging.getLogger("portal.worker")

FAILURES = Counter("portal_worker_job_failures", "Rounds in which a worker job failed", ["job"])
ROUNDS = Counter("portal_worker_job_rounds", "Rounds of each worker job", ["job"])
LAST_SUCCESS = Gauge(
    "portal_worker_job_last_success_timestamp_seconds",
    "When each worker job last ran without failing",
    ["job"],
)
WARN_EVERY_SECONDS = 60


@dataclass
class Job:
    name: str
    function: Callable
    order: int = 50
    warned_at: float = 0.0
    failures: int = 0


JOBS = []


def register(function, name=None, order=50):
    """A function of no arguments run every round (its exceptions are counted and logged, the others go
    on). Registered once, by name; `--once` runs them by `order`."""
    name = name or function.__name__
    if not any(job.name == name for job in JOBS):
        JOBS.append(Job(name, function, order))
        JOBS.sort(key=lambda job: job.order)
    return function


def run(job):
    """One round of one job; what it returned, or None when it failed."""
    ROUNDS.labels(job.name).inc()
    try:
        result = job.function()
    except Exception as error:  # counted, and logged once a minute: the job runs again next round
        _failed(job, error)
        return None
    if job.failures:
        log.info("event=worker_job_recovered job=%s failed_rounds=%d", job.name, job.failures)
        job.failures, job.warned_at = 0, 0.0
    LAST_SUCCESS.labels(job.name).set_to_current_time()
    return result


def _failed(job, error):
    FAILURES.labels(job.name).inc()
    now = time.monotonic()
    job.failures += 1
    if now - job.warned_at >= WARN_EVERY_SECONDS:
        log.warning(
            "event=worker_job_failed job=%s failed_rounds=%d error=%s cause=%s",
            job.name, job.failures, type(error).__name__, str(error)[:200],
            exc_info=job.warned_at == 0.0,  # the traceback once; then one line a minute
        )  # fmt: skip
        job.warned_at = now


def run_steps():
    """Every job once, in order (`--once`, and the tests)."""
    return {job.name: run(job) for job in list(JOBS)}


def run_forever(interval, stop=None):
    """Every job in a thread of its own, round after round, until `stop` (a threading.Event) is set."""
    stop = stop or threading.Event()
    threads = [
        threading.Thread(target=_loop, args=(job, interval, stop), name=f"worker-{job.name}", daemon=True)
        for job in list(JOBS)
    ]
    for thread in threads:
        thread.start()
    try:
        while not stop.wait(1):
            pass
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def _loop(job, interval, stop):
    while not stop.is_set():
        close_old_connections()
        run(job)
        stop.wait(interval)
    close_old_connections()
