"""WSGI entry point of the benchmarks' server."""

import os

from django.core.wsgi import get_wsgi_application

from portal.memory import return_large_blocks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
application = get_wsgi_application()
return_large_blocks()
