"""The worker: every background job (spooled mail, scanning, expiries, emails, webhooks, the audit stream),
each in a thread of its own, round after round; --once runs each once."""

from django.core.management.base import BaseCommand
from prometheus_client import start_http_server

from portal import worker
from portal.metrics import registry


class Command(BaseCommand):
    help = "Run the background jobs (emails, spool, scanning, webhooks, audit) until stopped, or --once."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run each job once, then exit")
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between rounds of each job")
        parser.add_argument(
            "--metrics-port",
            type=int,
            help="serve the worker's Prometheus metrics on this port (its jobs' failures, the queues)",
        )
        parser.add_argument("--metrics-host", default="127.0.0.1", help="the address of --metrics-port")

    def handle(self, *args, once, interval, metrics_port, metrics_host, **options):
        if once:
            sent = worker.run_steps().get("emails")
            if sent:
                self.stdout.write(f"event=emails_sent count={sent}")
            return
        if metrics_port:
            start_http_server(metrics_port, addr=metrics_host, registry=registry())
            self.stdout.write(f"Worker metrics on http://{metrics_host}:{metrics_port}/metrics")
        self.stdout.write(f"event=worker_started jobs={','.join(job.name for job in worker.JOBS)}")
        worker.run_forever(interval)
