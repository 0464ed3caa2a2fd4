"""The portal's URLs plus the benchmarks' baseline: a plain file served by FileResponse."""

import os

from django.http import FileResponse
from django.urls import path

from portal.urls import urlpatterns as portal_urlpatterns


def plain_file(request):
    return FileResponse(open(os.environ["BENCH_PLAIN_FILE"], "rb"), as_attachment=True)  # noqa: SIM115


urlpatterns = [path("bench/plain/", plain_file), *portal_urlpatterns]
