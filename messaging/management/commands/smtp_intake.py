"""Run the SMTP intake that holds outbound secure mail."""

import signal
import threading

from django.core.management.base import BaseCommand
from prometheus_client import start_http_server

from messaging.intake import controller


class Command(BaseCommand):
    help = "Accept outbound secure mail over SMTP and hold it (250 only once it is committed)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2525)
        parser.add_argument(
            "--metrics-port",
            type=int,
            help="serve the intake's Prometheus metrics on this port (answers, sizes)",
        )
        parser.add_argument("--metrics-host", default="127.0.0.1", help="the address of --metrics-port")

    def handle(self, *args, host, port, metrics_port, metrics_host, **options):
        if metrics_port:
            start_http_server(metrics_port, addr=metrics_host)
            self.stdout.write(f"Intake metrics on http://{metrics_host}:{metrics_port}/metrics")
        server = controller(host, port)
        server.start()
        self.stdout.write(f"SMTP intake listening on {host}:{port}")
        self.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
        server.stop()
