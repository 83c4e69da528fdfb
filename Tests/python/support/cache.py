"""A cache made through the raw C ABI (ctypes), for the tests that drive cachekit_cache_*."""
import ctypes
import time

import msgpack

from support.abi import OK, Buffer, last_message, take
from cachekit_native._ffi import CacheStats, ComputeFunction, HealthReport, RedisStats, TrackingStats


class Cache:
    """One cachekit_cache with the options given as cachekit_config_set text; statuses unchecked."""

    def __init__(self, lib, **options):
        self.lib = lib
        config = ctypes.c_void_p()
        assert lib.cachekit_config_new(ctypes.byref(config)) == OK
        for name, value in options.items():
            rc = lib.cachekit_config_set(config, name.encode(), str(value).encode())
            assert rc == OK, (name, rc, last_message(lib))
        self.handle = ctypes.c_void_p()
        rc = lib.cachekit_cache_new(config, ctypes.byref(self.handle))
        lib.cachekit_config_free(config)
        assert rc == OK, last_message(lib)

    def close(self):
        if self.handle:
            self.lib.cachekit_cache_free(self.handle)
            self.handle = ctypes.c_void_p()

    def get(self, key: str):
        return self._read(self.lib.cachekit_cache_get, key)

    def get_local(self, key: str):
        return self._read(self.lib.cachekit_cache_get_local, key)

    def _read(self, function, key: str):
        out = Buffer()
        rc = function(self.handle, key.encode(), len(key.encode()), ctypes.byref(out))
        if rc != OK:
            return rc, None
        return rc, msgpack.unpackb(take(self.lib, out))

    def set(self, key: str, value, ttl: int = -1) -> int:
        doc = msgpack.packb(value)
        return self.lib.cachekit_cache_set(self.handle, key.encode(), len(key.encode()), doc, len(doc), ttl)

    def delete(self, key: str) -> int:
        return self.lib.cachekit_cache_delete(self.handle, key.encode(), len(key.encode()))

    def exists(self, key: str) -> int:
        return self.lib.cachekit_cache_exists(self.handle, key.encode(), len(key.encode()))

    def get_many(self, keys):
        n = len(keys)
        encoded = [k.encode() for k in keys]
        key_array = (ctypes.c_char_p * n)(*encoded)
        lens = (ctypes.c_size_t * n)(*[len(k) for k in encoded])
        values = (Buffer * n)()
        statuses = (ctypes.c_int * n)()
        rc = self.lib.cachekit_cache_get_many(self.handle, key_array, lens, n, values, statuses)
        out = []
        for i in range(n):
            if statuses[i] == OK:
                out.append(msgpack.unpackb(take(self.lib, values[i])))
            else:
                out.append(None)
        return rc, out

    def get_or_compute(self, key: str, compute, ttl: int = -1):
        def trampoline(_userdata, key_ptr, key_len, out):
            try:
                doc = msgpack.packb(compute(ctypes.string_at(key_ptr, key_len).decode()))
            except Exception:
                return 1
            return self.lib.cachekit_buffer_set(out, doc, len(doc))
        callback = ComputeFunction(trampoline)
        out = Buffer()
        rc = self.lib.cachekit_cache_get_or_compute(self.handle, key.encode(), len(key.encode()), ttl, callback,
                                                   None, ctypes.byref(out))
        if rc < 0:  # CACHEKIT_STALE (2) delivers a value as CACHEKIT_OK does
            return rc, None
        return rc, msgpack.unpackb(take(self.lib, out))

    def invalidate_namespace(self, namespace: str):
        removed = ctypes.c_uint64()
        rc = self.lib.cachekit_cache_invalidate_namespace(self.handle, namespace.encode(), ctypes.byref(removed))
        return rc, removed.value

    def stats(self) -> dict:
        s = CacheStats()
        assert self.lib.cachekit_cache_stats_get(self.handle, ctypes.byref(s)) == OK
        return {name: getattr(s, name) for name, _ in CacheStats._fields_}

    def redis_stats(self) -> dict:
        s = RedisStats()
        assert self.lib.cachekit_cache_redis_stats(self.handle, ctypes.byref(s)) == OK
        return {name: getattr(s, name) for name, _ in RedisStats._fields_}

    def tracking_stats(self) -> dict:
        s = TrackingStats()
        assert self.lib.cachekit_cache_tracking_stats_get(self.handle, ctypes.byref(s)) == OK
        return {name: getattr(s, name) for name, _ in TrackingStats._fields_}

    def health(self) -> HealthReport:
        h = HealthReport()
        assert self.lib.cachekit_cache_health(self.handle, ctypes.byref(h)) == OK
        return h


def timed(fn, *args, **kwargs):
    start = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - start
