"""The notification worker's round: what each app needs done in the background registers a step here
(`manage.py deliver_notifications` runs them all, in order, every round)."""

import logging

log = logging.getLogger("portal.worker")

STEPS = []


def register(step):
    """A function of no arguments run once every round (its exceptions are logged, the round goes on)."""
    if step not in STEPS:
        STEPS.append(step)
    return step


def run_steps():
    for step in STEPS:
        try:
            step()
        except Exception:  # one part's trouble does not stop the others (the emails)
            log.exception("event=worker_step_failed step=%s", step.__name__)
