"""The portal's URLs plus the benchmarks' baselines: a plain FileResponse, a minimal signed-in page."""

import os

from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import render
from django.urls import path

from portal.urls import urlpatterns as portal_urlpatterns


def plain_file(request):
    return FileResponse(open(os.environ["BENCH_PLAIN_FILE"], "rb"), as_attachment=True)  # noqa: SIM115


@login_required
def minimal_page(request):
    """The least a page of the portal does: a signed-in person, the base template."""
    return render(request, "base.html")


urlpatterns = [path("bench/plain/", plain_file), path("bench/minimal/", minimal_page), *portal_urlpatterns]
