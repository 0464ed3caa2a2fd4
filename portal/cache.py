"""Django's Redis cache, with its client made once, and JSON where Django would pickle.

Django's Redis cache unpickles what it reads: anything that can write to the Redis (another client of a
shared server without a password) could make every portal process run its code. Here values are JSON
(integers stay bare, so incr() still works), and a value that is not the portal's JSON reads as a miss.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` on every cache call, and building one
fills a table of about 170 response callbacks: a login made 13 of them, about 5 ms under the profiler.
A `redis.Redis` over a connection pool is safe to share, so each pool gets one and keeps it.
"""

import json
import logging

from django.core.cache.backends import redis
from django.core.serializers.json import DjangoJSONEncoder
from prometheus_client import Counter

log = logging.getLogger("portal.cache")
UNREADABLE = Counter(
    "portal_cache_unreadable_values_total", "Values in the shared cache that were not the portal's JSON"
)


class JSONSerializer:
    """What the shared cache holds: JSON, which nobody can make run code."""

    def dumps(self, value):
        if type(value) is int:  # as Django's own: a bare integer, for incr() and decr()
            return value
        return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":")).encode()

    def loads(self, data):
        try:
            return int(data)
        except ValueError:
            pass
        try:
            return json.loads(data)
        except ValueError:  # a pickle of an older version, or written by someone else: a miss
            UNREADABLE.inc()
            log.warning("event=cache_value_unreadable")
            return None


class ReusedClient(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClient
        self._options = {"serializer": JSONSerializer, **self._options}
