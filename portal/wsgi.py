"""WSGI entry point, for gunicorn. A worker refuses to start without valid key-encryption keys."""

import os
import sys

from django.core import checks
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

_refusals = [error for error in checks.run_checks(tags=["portal_keys"]) if error.is_serious()]
if _refusals:
    sys.stderr.write(f"The portal cannot start: {_refusals[0].msg} {_refusals[0].hint}\n")
    sys.exit(4)  # gunicorn stops when a worker cannot boot
