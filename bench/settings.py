"""The portal's settings plus one baseline view (a plain FileResponse), for the benchmarks only."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
