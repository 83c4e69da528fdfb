"""cachekit-py ``backend=`` objects as the library's second tier (cachekit_cache_new_with_backend).

The library still builds every entry (the ByteStorage envelope, encrypted when secure), keeps
L1 and fails open; the object's ``get``/``set``/``delete``/``exists`` receive and return those
entry bytes under cachekit-py's keys, as cachekit-py hands them to it. The callbacks run on the
thread of the library call that needs them (the binding releases the GIL around every call that
may reach the second tier); an exception from the object never crosses into the library: it
becomes a backend status, which the library counts and reads as a miss (fail-open), as
cachekit-py logs and misses. Each open cache's object is held in ``_live`` until the library
releases it, so no callback ever finds it gone.

An SWR-capable object (``get_with_freshness`` on its class, cachekit-py's test) is read through
that method: a stale entry is served but kept out of L1, a fresh one stays in L1 no longer than
the freshness it reports, and the thread's last read remembers whether it was stale (``take_stale``)
so the decorator can revalidate in the background. ``set`` then carries the function's stale_ttl.
The flag is per thread, not per object: a function's tenants (_tenants.py) each have their own.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import threading
from ctypes import CFUNCTYPE, POINTER, byref, c_int, c_int64, c_size_t, c_uint32, c_void_p
from typing import Any

from . import _ffi

logger = logging.getLogger("cachekit_native")

VERSION = 1
TTL_UNKNOWN, TTL_NONE, TTL_NOT_FOR_L1 = -3, -1, -2
_OK, _MISS = 0, 1
_UNAVAILABLE, _TIMEOUT, _ERROR = -60, -61, -62

GetFunction = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_void_p)
SetFunction = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, c_int64)
KeyFunction = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
ReleaseFunction = CFUNCTYPE(None, c_void_p)


class HostBackendStruct(ctypes.Structure):
    """cachekit_host_backend."""
    _fields_ = [("version", c_uint32), ("userdata", c_void_p), ("get", GetFunction), ("set", SetFunction),
                ("del", KeyFunction), ("exists", KeyFunction), ("release", ReleaseFunction)]


HostBackendPointer = POINTER(HostBackendStruct)

_live: dict[int, "HostBackend"] = {}
_reads = threading.local()  # .stale: whether this thread's last read from an object was stale
_ids = itertools.count(1)
_string_at = ctypes.string_at


def supports_swr(backend: Any) -> bool:
    """cachekit-py's test: on the class, so a Mock or a __getattr__ proxy is not taken for one."""
    return callable(getattr(type(backend), "get_with_freshness", None))


def is_redis_backend(backend: Any) -> bool:
    """cachekit-py's own RedisBackend: served by the library's Redis client, not by callbacks."""
    return any(cls.__name__ == "RedisBackend" and cls.__module__.startswith("cachekit.backends.redis")
               for cls in type(backend).__mro__)


def _status(error: BaseException) -> int:
    """The backend status for an exception of the object: timeouts and lost connections keep
    their meaning (cachekit-py's BackendError carries the kind as error_type)."""
    kind = str(getattr(getattr(error, "error_type", None), "value", "")).lower()
    if isinstance(error, TimeoutError) or kind == "timeout":
        return _TIMEOUT
    if isinstance(error, ConnectionError) or kind == "transient":
        return _UNAVAILABLE
    return _ERROR


def _key(key: int, key_len: int) -> str:
    return _string_at(key, key_len).decode("utf-8", "surrogatepass")


class HostBackend:
    """One backend object behind one library cache."""

    def __init__(self, backend: Any, stale_ttl: int | None = None):
        self.backend = backend
        self.swr = supports_swr(backend)
        self.stale_ttl = stale_ttl if self.swr else None

    def read(self, key: str) -> tuple[bytes, int] | None:
        if not self.swr:
            value = self.backend.get(key)
            return None if value is None else (value, TTL_UNKNOWN)
        hit = self.backend.get_with_freshness(key)
        if hit is None:
            _reads.stale = False
            return None
        # (bytes, is_stale) from an older backend, (bytes, is_stale, fresh_for) from a newer one.
        value, stale, fresh_for = (tuple(hit) + (None,))[:3]
        _reads.stale = bool(stale)
        if stale:
            return value, TTL_NOT_FOR_L1
        if fresh_for is None:
            return value, TTL_UNKNOWN
        # No freshness left: cachekit-py keeps no L1 copy either.
        return value, int(fresh_for) * 1000 if fresh_for > 0 else TTL_NOT_FOR_L1

    def write(self, key: str, value: bytes, ttl_seconds: int) -> None:
        ttl = ttl_seconds if ttl_seconds > 0 else None  # cachekit-py passes None for no expiry
        if self.stale_ttl is not None:
            self.backend.set(key, value, ttl, self.stale_ttl)
        else:
            self.backend.set(key, value, ttl)


def take_stale() -> bool:
    """Whether this thread's last read from an SWR-capable object was stale (and forgets it)."""
    stale = getattr(_reads, "stale", False)
    _reads.stale = False
    return stale


def _backend(userdata: int) -> HostBackend:
    return _live[userdata]


@GetFunction
def _get(userdata, key, key_len, out):
    try:
        found = _backend(userdata).read(_key(key, key_len))
        if found is None:
            return _MISS
        value, remaining = found
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"backend get returned {type(value).__name__}, not bytes")
        value = bytes(value)
        return _ffi.library().cachekit_host_value_put(out, value, len(value), remaining)
    except BaseException as error:  # never into the library: a status it counts as a failure
        logger.warning("cachekit_native: backend get failed: %s", type(error).__name__)
        return _status(error)


@SetFunction
def _set(userdata, key, key_len, value, value_len, ttl_seconds):
    try:
        _backend(userdata).write(_key(key, key_len), _string_at(value, value_len), ttl_seconds)
        return _OK
    except BaseException as error:
        logger.warning("cachekit_native: backend set failed: %s", type(error).__name__)
        return _status(error)


def _key_callback(operation: str) -> Any:
    """The del or exists callback: the object's delete / exists, True as CACHEKIT_OK."""
    @KeyFunction
    def call(userdata, key, key_len):
        try:
            return _OK if getattr(_backend(userdata).backend, operation)(_key(key, key_len)) else _MISS
        except BaseException as error:
            logger.warning("cachekit_native: backend %s failed: %s", operation, type(error).__name__)
            return _status(error)
    return call


_delete, _exists = _key_callback("delete"), _key_callback("exists")


@ReleaseFunction
def _release(userdata):
    _live.pop(userdata, None)


def new_cache(lib: Any, config: c_void_p, host: HostBackend) -> c_void_p:
    """cachekit_cache_new_with_backend on host; raises the library's error when it fails."""
    userdata = next(_ids)
    _live[userdata] = host
    described = HostBackendStruct(VERSION, userdata, _get, _set, _delete, _exists, _release)
    handle = c_void_p()
    try:
        lib.cachekit_cache_new_with_backend(config, byref(described), byref(handle))
    except BaseException:
        _live.pop(userdata, None)  # a refused backend is never released by the library
        raise
    return handle
