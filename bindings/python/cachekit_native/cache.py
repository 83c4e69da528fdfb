"""A libcachekit cache handle: an in-process L1 in front of an optional Redis L2.

``Cache`` owns one ``cachekit_cache``. Keys are str (UTF-8) or bytes; values are bytes (for
interop with cachekit services, a MessagePack document: see serializer.py). Every call may block
on Redis (within the configured timeouts); from asyncio, run them in an executor, as the
decorator does. The handle is thread-safe, and so is ``close()`` while other threads call: the C
handle is freed when the last call in flight returns (libcachekit's own rule is that nothing may
race cachekit_cache_free, so the count is kept here); calls after close() raise CacheClosedError.
"""

from __future__ import annotations

import ctypes
import json
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from ctypes import byref, c_int, c_int64, c_uint64, c_void_p
from typing import Any, Callable

from . import _ffi, observability
from ._ffi import (Buffer, CacheStats, CoherenceStats, ComputeFunction, FillLockSettings, HealthReport, ListenerStats,
                   TrackingStats)
from .errors import CacheClosedError, ComputeFailedError

TTL_DEFAULT = -1
TTL_NONE = 0

_SECRET_OPTIONS = frozenset({"master_key", "previous_master_keys"})


def _text(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"1" if value else b"0"
    return str(value).encode("utf-8")


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def _key_arrays(data: "list[bytes]") -> tuple[Any, Any]:
    """Parallel C arrays of pointers and lengths over bytes the caller keeps alive."""
    count = len(data)
    return (ctypes.c_char_p * count)(*data), (ctypes.c_size_t * count)(*map(len, data))


def _ttl(ttl: int | None) -> int:
    if ttl is None:
        return TTL_DEFAULT
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        raise ValueError(f"ttl must be a non-negative int number of seconds or None, got {ttl!r}")
    return ttl


class _Calls:
    """The calls in flight on one C handle, so close() can run while other threads call.

    close() marks the handle closed and frees it at once when nothing is in flight, else the last
    call to leave frees it. A call enters before it reads the handle and checks ``closed`` after
    entering, so it either sees the close and never touches the handle, or is counted before the
    close looks (that ordering is the GIL's: each step is one bytecode-level operation, seen by
    every thread in program order). Entering and leaving are a list append and pop, so the hit
    path takes no lock; only the free itself is under one, so it runs once.
    """
    __slots__ = ("handle", "closed", "in_flight", "_free", "_lock")

    def __init__(self, handle: c_void_p, free: Callable[[c_void_p], None]):
        self.handle: c_void_p | None = handle
        self.closed = False
        self.in_flight: list[None] = []
        self._free = free
        self._lock = threading.Lock()

    def enter(self) -> c_void_p:
        self.in_flight.append(None)
        if self.closed:
            self.leave()
            raise CacheClosedError("the cache is closed")
        return self.handle

    def leave(self) -> None:
        self.in_flight.pop()
        if self.closed and not self.in_flight:
            self._release()

    def close(self) -> None:
        self.closed = True
        if not self.in_flight:
            self._release()

    def _release(self) -> None:
        with self._lock:
            handle, self.handle = self.handle, None
        if handle is not None:
            self._free(handle)


class _ComputeCall:
    """What the compute trampoline needs for one get_or_compute call, and what it leaves behind."""
    __slots__ = ("compute", "error")

    def __init__(self, compute: Callable[[], bytes]):
        self.compute = compute
        self.error: BaseException | None = None


@ComputeFunction
def _compute_trampoline(userdata, key, key_len, out):
    # Runs on the calling thread with the GIL held; the call object is alive for the whole call.
    call = ctypes.cast(userdata, ctypes.py_object).value
    try:
        value = call.compute()
        _ffi.library().cachekit_buffer_set(out, value, len(value))
        return 0
    except BaseException as error:  # handed back to the caller of get_or_compute, never lost
        call.error = error
        return 1


class Cache:
    """One libcachekit cache. Options are libcachekit's (cachekit_config_set names)::

        with Cache(redis_url="redis://127.0.0.1:6379/0", mode="plain") as cache:
            cache.set("k", b"v", ttl=60)
            assert cache.get("k") == b"v"

    ``from_env=True`` first reads cachekit-py's environment variables (CACHEKIT_REDIS_URL or
    REDIS_URL, CACHEKIT_MASTER_KEY, ...); explicit options override them. With no redis_url the
    cache is L1-only. Option values never appear in messages when they are secrets.
    """

    def __init__(self, *, from_env: bool = True, **options: Any):
        lib = _ffi.library()
        self._lib = lib
        self._calls: _Calls | None = None
        config = c_void_p()
        lib.cachekit_config_new(byref(config))
        try:
            if from_env:
                lib.cachekit_config_load_env(config)
            for name, value in options.items():
                if value is None:
                    continue
                lib.cachekit_config_set(config, name.encode("utf-8"), _text(value))
            handle = c_void_p()
            lib.cachekit_cache_new(config, byref(handle))
        finally:
            lib.cachekit_config_free(config)
        # The free function is kept with the handle: __del__ may run at shutdown.
        self._calls = _Calls(handle, lib.cachekit_cache_free)
        self.opened_at = time.time()  # for the uptime cachekit-py's health report carries
        observability.track(self)

    # -- lifetime ----------------------------------------------------------------------------

    @property
    def handle(self) -> c_void_p:
        """The raw cachekit_cache handle: not counted as a call in flight, so a caller using it
        directly must not race close()."""
        calls = self._calls
        if calls is None or calls.closed:
            raise CacheClosedError("the cache is closed")
        return calls.handle

    @property
    def calls(self) -> _Calls:
        """The in-flight count (the decorator's hit path enters and leaves it itself)."""
        calls = self._calls
        if calls is None:
            raise CacheClosedError("the cache is closed")
        return calls

    @property
    def closed(self) -> bool:
        return self._calls is None or self._calls.closed

    def close(self) -> None:
        """Frees the cache (L1 and Redis connections) once the calls in flight have returned;
        later calls raise CacheClosedError. Idempotent, and safe while other threads call."""
        if self._calls is not None:
            self._calls.close()

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        # At interpreter shutdown module globals may already be gone; only instance state is used.
        if sys is None or getattr(sys, "is_finalizing", lambda: False)():
            return
        try:
            self.close()
        except Exception:
            pass

    def _call(self, function: Callable[..., int], *args: Any) -> int:
        """function(handle, *args), counted as a call in flight."""
        calls = self.calls
        handle = calls.enter()
        try:
            return function(handle, *args)
        finally:
            calls.leave()

    # -- operations --------------------------------------------------------------------------

    def get(self, key: str | bytes) -> bytes | None:
        """The value under key, or None on a miss."""
        data = _key_bytes(key)
        out = Buffer()
        if self._call(self._lib.cachekit_cache_get, data, len(data), byref(out)) == _ffi.MISS:
            return None
        return self._lib.take(out)

    def get_local(self, key: str | bytes) -> bytes | None:
        """The value under key from L1 only, or None: never waits on Redis, so event loops may
        call it inline."""
        data = _key_bytes(key)
        out = Buffer()
        if self._call(self._lib.cachekit_cache_get_local, data, len(data), byref(out)) == _ffi.MISS:
            return None
        return self._lib.take(out)

    def set(self, key: str | bytes, value: bytes, ttl: int | None = None) -> None:
        """Stores value under key; ttl None means the cache's default, 0 no expiry."""
        data = _key_bytes(key)
        value = bytes(value)
        self._call(self._lib.cachekit_cache_set, data, len(data), value, len(value), _ttl(ttl))

    def delete(self, key: str | bytes) -> None:
        """Removes key from L1 and Redis (raises a BackendError if Redis could not be reached)."""
        data = _key_bytes(key)
        self._call(self._lib.cachekit_cache_delete, data, len(data))

    def exists(self, key: str | bytes) -> bool:
        data = _key_bytes(key)
        return self._call(self._lib.cachekit_cache_exists, data, len(data)) == _ffi.OK

    # -- bulk calls: one C call and at most one Redis round trip for all the keys ---------------

    def get_many(self, keys: "Iterable[str | bytes]") -> dict[str | bytes, bytes]:
        """The values of the keys that hit (L1 first, then one MGET), keyed as given."""
        given = list(keys)
        if not given:
            return {}
        pointers, lengths = _key_arrays([_key_bytes(key) for key in given])
        count = len(given)
        values = (Buffer * count)()
        statuses = (ctypes.c_int * count)()
        self._call(self._lib.cachekit_cache_get_many, pointers, lengths, count, values, statuses)
        found: dict[str | bytes, bytes] = {}
        for index, key in enumerate(given):
            if statuses[index] == _ffi.OK:
                found[key] = self._lib.take(values[index])
        return found

    def set_many(self, items: "Mapping[str | bytes, bytes] | Iterable[tuple[str | bytes, bytes]]",
                 ttl: int | None = None) -> None:
        """set() of every (key, value) in one call (fail-open, as set). A key that fails its
        checks raises its error after the others were stored."""
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        if not pairs:
            return
        keys, key_lengths = _key_arrays([_key_bytes(key) for key, _ in pairs])
        values, value_lengths = _key_arrays([bytes(value) for _, value in pairs])
        statuses = (ctypes.c_int * len(pairs))()
        self._call(self._lib.cachekit_cache_set_many, keys, key_lengths, values, value_lengths, len(pairs), _ttl(ttl),
                   statuses)

    def delete_many(self, keys: "Iterable[str | bytes]") -> int:
        """Removes the keys from L1 and Redis (one round trip); returns how many existed. Raises a
        BackendError when Redis could not be reached (L1 is cleared regardless)."""
        data = [_key_bytes(key) for key in keys]
        if not data:
            return 0
        pointers, lengths = _key_arrays(data)
        statuses = (ctypes.c_int * len(data))()
        self._call(self._lib.cachekit_cache_delete_many, pointers, lengths, len(data), statuses)
        return sum(1 for status in statuses if status == _ffi.OK)

    def ttl(self, key: str | bytes) -> int | None:
        """Seconds key has left, or None when it is absent or never expires (cachekit-py's
        get_ttl)."""
        data = _key_bytes(key)
        seconds = c_int64()
        if self._call(self._lib.cachekit_cache_ttl, data, len(data), byref(seconds)) == _ffi.MISS:
            return None
        return seconds.value if seconds.value > 0 else None

    def get_or_compute(self, key: str | bytes, compute: Callable[[], bytes], ttl: int | None = None) -> bytes:
        """The value under key; on a miss compute() (run once per key across this process's
        concurrent callers) is stored and returned. An exception from compute propagates."""
        data = _key_bytes(key)
        call = _ComputeCall(compute)
        out = Buffer()
        try:
            self._call(self._lib.cachekit_cache_get_or_compute, data, len(data), _ttl(ttl), _compute_trampoline,
                                                    call, byref(out))
        except ComputeFailedError:
            if call.error is not None:
                raise call.error from None
            raise
        return self._lib.take(out)

    def invalidate_namespace(self, namespace: str) -> int:
        """Removes every key of a namespace from L1 and Redis; returns the Redis keys removed."""
        removed = c_uint64()
        self._call(self._lib.cachekit_cache_invalidate_namespace, namespace.encode("utf-8"), byref(removed))
        return removed.value

    # -- cachekit-py's key registry -------------------------------------------------------------

    def track_key(self, registry_id: str, key: str | bytes) -> bool:
        """Records key in the registry's tracking set (SADD + EXPIRE, one round trip); False
        without Redis. Raises a BackendError when Redis fails."""
        data = _key_bytes(key)
        return self._call(self._lib.cachekit_cache_track_key, registry_id.encode("utf-8"), data,
                                                  len(data)) == _ffi.OK

    def set_tracked(self, registry_id: str, key: str | bytes, value: bytes, ttl: int | None = None) -> None:
        """set() and track_key() in one Redis round trip (fail-open, as set)."""
        data = _key_bytes(key)
        value = bytes(value)
        self._call(self._lib.cachekit_cache_set_tracked, registry_id.encode("utf-8"), data, len(data), value,
                                             len(value), _ttl(ttl))

    def drain_registry(self, registry_id: str, local_keys: "list[str | bytes]" = ()) -> int:
        """Deletes every key the registry tracks, then local_keys the drain missed, from Redis and
        L1; returns how many distinct keys were reached."""
        keys = [_key_bytes(key) for key in local_keys]
        count = len(keys)
        pointers, lengths = _key_arrays(keys)
        removed = c_uint64()
        self._call(self._lib.cachekit_cache_drain_registry, registry_id.encode("utf-8"), pointers, lengths, count,
                                                byref(removed))
        return removed.value

    def publish_invalidation(self, registry_id: str, key: str | bytes | None = None) -> bool:
        """Announces an invalidation on cachekit-py's channel (key None: every key of the
        function); False when nothing was published (no Redis, or an id over 1024 bytes)."""
        data = None if key is None else _key_bytes(key)
        return self._call(self._lib.cachekit_cache_publish_invalidation, registry_id.encode("utf-8"), data,
                                                             0 if data is None else len(data)) == _ffi.OK

    def stats(self) -> dict[str, int]:
        """A snapshot of the cache's counters (cachekit_cache_stats)."""
        snapshot = CacheStats()
        self._call(self._lib.cachekit_cache_stats_get, byref(snapshot))
        return {name: getattr(snapshot, name) for name, _ in CacheStats._fields_}

    def redis_stats(self) -> dict[str, int]:
        """The Redis client's breaker, pool and backpressure state and counters
        (cachekit_cache_redis_stats); configured 0 without Redis."""
        snapshot = _ffi.RedisStats()
        self._call(self._lib.cachekit_cache_redis_stats, byref(snapshot))
        return {name: getattr(snapshot, name) for name, _ in _ffi.RedisStats._fields_}

    def listener_stats(self) -> dict[str, int]:
        """The invalidation listener's state and counters (cachekit_cache_listener_stats); all
        zero when the cache runs no listener."""
        snapshot = ListenerStats()
        self._call(self._lib.cachekit_cache_listener_stats, byref(snapshot))
        return {name: getattr(snapshot, name) for name, _ in ListenerStats._fields_}

    # -- coherence: cachekit-py's fill lock, the coherence counters ----------------------------

    def fill_lock_settings(self) -> FillLockSettings:
        """How get_or_compute takes and waits for the fill lock (applies, timeout/wait/poll in ms)."""
        settings = FillLockSettings()
        self._call(self._lib.cachekit_cache_fill_lock_settings_get, byref(settings))
        return settings

    def fill_lock_try(self, key: str | bytes, token: str) -> bool:
        """One SET NX PX attempt at key's fill lock; True when held (or when no lock applies).
        Raises a BackendError when Redis fails (compute without the lock then)."""
        data = _key_bytes(key)
        acquired = c_int()
        self._call(self._lib.cachekit_cache_fill_lock_try, data, len(data), token.encode("ascii"), byref(acquired))
        return bool(acquired.value)

    def fill_lock_read(self, key: str | bytes) -> bytes | None:
        """key read from Redis for a fill (while waiting for the lock, or after the grant); a miss
        is not counted again."""
        data = _key_bytes(key)
        out = Buffer()
        if self._call(self._lib.cachekit_cache_fill_lock_read, data, len(data), byref(out)) == _ffi.MISS:
            return None
        return self._lib.take(out)

    def fill_lock_release(self, key: str | bytes, token: str) -> bool:
        """Deletes key's fill lock if it still holds token; True when it did."""
        data = _key_bytes(key)
        released = c_int()
        self._call(self._lib.cachekit_cache_fill_lock_release, data, len(data), token.encode("ascii"), byref(released))
        return bool(released.value)

    def refresh_due(self, key: str | bytes) -> bool:
        """After a hit: True when the entry is due for a refresh-ahead and this caller is the
        first to ask (refresh it in the background)."""
        data = _key_bytes(key)
        due = c_int()
        self._call(self._lib.cachekit_cache_refresh_due, data, len(data), byref(due))
        return bool(due.value)

    def refresh_release(self, key: str | bytes) -> None:
        """Hands back a refresh refresh_due() gave this caller that will not run: a later hit
        may be told it is due again."""
        data = _key_bytes(key)
        self._call(self._lib.cachekit_cache_refresh_release, data, len(data))

    def coherence_stats(self) -> dict[str, int]:
        """The coherence counters (cachekit_coherence_stats)."""
        snapshot = CoherenceStats()
        self._call(self._lib.cachekit_cache_coherence_stats_get, byref(snapshot))
        return {name: getattr(snapshot, name) for name, _ in CoherenceStats._fields_}

    def tracking_stats(self) -> dict[str, int]:
        """l1_tracking's state and counters (cachekit_cache_tracking_stats_get); all zero when
        the cache does not track."""
        snapshot = TrackingStats()
        self._call(self._lib.cachekit_cache_tracking_stats_get, byref(snapshot))
        return {name: getattr(snapshot, name) for name, _ in TrackingStats._fields_}

    def metrics_text(self) -> str:
        """The cache's Prometheus exposition (text format 0.0.4; observability.py's collector
        exports every live cache's)."""
        out = Buffer()
        self._call(self._lib.cachekit_cache_metrics_text, byref(out))
        return self._lib.take(out).decode("utf-8")

    def health_report(self) -> dict[str, Any]:
        """PINGs Redis and returns cachekit_cache_health_v2's report (each tier's state)."""
        out = Buffer()
        self._call(self._lib.cachekit_cache_health_v2, byref(out))
        return json.loads(self._lib.take(out))

    def check_health(self) -> dict[str, Any]:
        """cachekit-py's check_health() shape: status, namespace, components."""
        return observability.check_health(self)

    def get_health_status(self) -> dict[str, Any]:
        """cachekit-py's get_health_status() shape."""
        return observability.get_health_status(self)

    def health(self) -> dict[str, Any]:
        """PINGs Redis and reports both tiers."""
        report = HealthReport()
        self._call(self._lib.cachekit_cache_health, byref(report))
        return {"l2_configured": bool(report.l2_configured), "l2_status": report.l2_status,
                "l2_ping_ns": report.l2_ping_ns, "l1_entries": report.l1_entries, "l1_bytes": report.l1_bytes,
                "detail": report.detail.decode("utf-8", "replace")}
