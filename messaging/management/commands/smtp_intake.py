"""Run the SMTP intake that holds outbound secure mail."""

import signal
import threading

from django.core.management.base import BaseCommand

from messaging.intake import controller


class Command(BaseCommand):
    help = "Accept outbound secure mail over SMTP and hold it (250 only once it is committed)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2525)

    def handle(self, *args, host, port, **options):
        server = controller(host, port)
        server.start()
        self.stdout.write(f"SMTP intake listening on {host}:{port}")
        self.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
        server.stop()
