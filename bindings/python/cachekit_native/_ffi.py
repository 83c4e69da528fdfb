"""The one table of libcachekit functions this package calls, with their C signatures.

Every int-returning function gets an errcheck that turns a negative status into the exception
registered for it (errors.py), carrying the library's message; non-negative statuses (CACHEKIT_OK,
CACHEKIT_MISS) are returned. Pointers the library owns (static strings, buffer data, handles) are
typed c_void_p, so ctypes never copies or frees them behind our back.
"""

from __future__ import annotations

import ctypes
import threading
from ctypes import CFUNCTYPE, POINTER, c_char_p, c_int, c_int64, c_size_t, c_uint, c_uint64, c_void_p, py_object

from . import _loader
from .errors import error_for_status

OK = 0
MISS = 1
STALE = 2


class Buffer(ctypes.Structure):
    """cachekit_buffer: data allocated by the library, released with cachekit_buffer_free."""
    _fields_ = [("data", c_void_p), ("len", c_size_t)]


BufferPointer = POINTER(Buffer)
STATUS = "status"  # restype marker: c_int checked by _check_status


class CacheStats(ctypes.Structure):
    """cachekit_cache_stats."""
    _fields_ = [(name, c_uint64) for name in (
        "hits", "misses", "l1_hits", "l2_hits", "sets", "deletes", "evictions", "errors", "l2_errors",
        "l2_skipped", "computes", "coalesced", "decode_errors", "l1_entries", "l1_bytes", "l2_operations",
        "l2_latency_total_ns", "l2_latency_max_ns")]


class HealthReport(ctypes.Structure):
    """cachekit_cache_health_report."""
    _fields_ = [("l2_configured", c_int), ("l2_status", c_int), ("l2_ping_ns", c_uint64),
                ("l1_entries", c_uint64), ("l1_bytes", c_uint64), ("detail", ctypes.c_char * 256)]


class ListenerStats(ctypes.Structure):
    """cachekit_listener_stats."""
    _fields_ = [("running", c_int), ("subscribed", c_int), ("received", c_uint64), ("applied", c_uint64),
                ("dropped", c_uint64), ("resubscriptions", c_uint64)]


class TrackingStats(ctypes.Structure):
    """cachekit_tracking_stats."""
    _fields_ = [("tracking", c_int)] + [(name, c_uint64) for name in (
        "invalidations", "dropped", "own_writes_kept", "fills_skipped", "gap_flushes", "server_flushes")]


class RedisStats(ctypes.Structure):
    """cachekit_redis_stats: the Redis client's breaker, pool, backpressure and Sentinel state."""
    _fields_ = [("configured", c_int), ("breaker_state", c_int)] + [
        (name, c_uint64) for name in (
            "breaker_opened", "breaker_half_opened", "breaker_closed", "breaker_rejected", "breaker_failures",
            "pool_size", "pool_in_use", "pool_idle", "pool_peak_in_use", "pool_waits", "pool_wait_total_ns",
            "pool_timeouts", "connections_opened", "connections_closed", "connections_abandoned",
            "backpressure_in_flight", "backpressure_queued", "backpressure_shed", "replies_refused",
            "sweeps_incomplete", "sentinel_discoveries", "sentinel_master_changes")]


class FillLockSettings(ctypes.Structure):
    """cachekit_fill_lock_settings."""
    _fields_ = [("applies", c_int), ("timeout_ms", c_uint64), ("wait_ms", c_uint64), ("poll_ms", c_uint64)]


class CoherenceStats(ctypes.Structure):
    """cachekit_coherence_stats: the fill lock, sliding TTL, stale-if-error, refresh-ahead, decrypt failures."""
    _fields_ = [(name, c_uint64) for name in (
        "fill_lock_waits", "fill_lock_reads", "fill_lock_timeouts", "fill_lock_expired", "ttl_refreshes",
        "stale_served", "refreshes_ahead", "refresh_ahead_failures", "decrypt_wrong_key_l1", "decrypt_wrong_key_l2",
        "decrypt_tampered_l1", "decrypt_tampered_l2", "decrypt_unknown_fingerprint_l1",
        "decrypt_unknown_fingerprint_l2")]


class LogField(ctypes.Structure):
    """cachekit_log_field: a structured field of a log event, valid only during the handler call."""
    _fields_ = [("name", c_char_p), ("value", c_char_p)]


# void (*cachekit_log_fn)(void *userdata, int level, const char *event, const cachekit_log_field *fields,
#                         size_t field_count)
LogFunction = CFUNCTYPE(None, c_void_p, c_int, c_char_p, POINTER(LogField), c_size_t)

# int (*cachekit_compute_fn)(void *userdata, const uint8_t *key, size_t key_len, cachekit_buffer *out)
ComputeFunction = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, BufferPointer)

# name: (restype, argtypes). c_char_p arguments are Python bytes we own (NUL-terminated by ctypes).
SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "cachekit_version_number": (c_uint, []),
    "cachekit_version_string": (c_void_p, []),
    "cachekit_strerror": (c_void_p, [c_int]),
    "cachekit_last_error_message": (c_void_p, []),
    "cachekit_buffer_free": (None, [BufferPointer]),
    "cachekit_buffer_set": (STATUS, [BufferPointer, c_char_p, c_size_t]),
    # keys section: arguments are MessagePack documents we pack; the key comes back in a buffer.
    "cachekit_key_auto": (STATUS, [c_char_p, c_char_p, c_char_p, c_size_t, c_char_p, c_size_t, c_int, c_char_p,
                                    BufferPointer]),
    "cachekit_key_interop": (STATUS, [c_char_p, c_char_p, c_char_p, c_size_t, BufferPointer]),
    # cache section. Handles are c_void_p; keys and values are bytes we own.
    "cachekit_config_new": (STATUS, [POINTER(c_void_p)]),
    "cachekit_config_free": (None, [c_void_p]),
    "cachekit_config_set": (STATUS, [c_void_p, c_char_p, c_char_p]),
    "cachekit_config_load_env": (STATUS, [c_void_p]),
    "cachekit_cache_new": (STATUS, [c_void_p, POINTER(c_void_p)]),
    "cachekit_cache_free": (None, [c_void_p]),
    "cachekit_cache_get": (STATUS, [c_void_p, c_char_p, c_size_t, BufferPointer]),
    # bulk calls: parallel arrays of key (and value) pointers and lengths, a status per key.
    "cachekit_cache_get_many": (STATUS, [c_void_p, POINTER(c_char_p), POINTER(c_size_t), c_size_t, BufferPointer,
                                         POINTER(c_int)]),
    "cachekit_cache_set_many": (STATUS, [c_void_p, POINTER(c_char_p), POINTER(c_size_t), POINTER(c_char_p),
                                         POINTER(c_size_t), c_size_t, c_int64, POINTER(c_int)]),
    "cachekit_cache_delete_many": (STATUS, [c_void_p, POINTER(c_char_p), POINTER(c_size_t), c_size_t,
                                            POINTER(c_int)]),
    "cachekit_cache_ttl": (STATUS, [c_void_p, c_char_p, c_size_t, POINTER(c_int64)]),
    "cachekit_cache_get_local": (STATUS, [c_void_p, c_char_p, c_size_t, BufferPointer]),
    "cachekit_cache_set": (STATUS, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_int64]),
    "cachekit_cache_delete": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "cachekit_cache_exists": (STATUS, [c_void_p, c_char_p, c_size_t]),
    # userdata is the Python object the compute trampoline reads back (alive for the whole call).
    "cachekit_cache_get_or_compute": (STATUS, [c_void_p, c_char_p, c_size_t, c_int64, ComputeFunction,
                                                py_object, BufferPointer]),
    "cachekit_cache_invalidate_namespace": (STATUS, [c_void_p, c_char_p, POINTER(c_uint64)]),
    # key registry: the registry id is NUL-terminated UTF-8; a NULL key publishes the whole function.
    "cachekit_cache_track_key": (STATUS, [c_void_p, c_char_p, c_char_p, c_size_t]),
    "cachekit_cache_set_tracked": (STATUS, [c_void_p, c_char_p, c_char_p, c_size_t, c_char_p, c_size_t, c_int64]),
    "cachekit_cache_drain_registry": (STATUS, [c_void_p, c_char_p, POINTER(c_char_p), POINTER(c_size_t), c_size_t,
                                                POINTER(c_uint64)]),
    "cachekit_cache_publish_invalidation": (STATUS, [c_void_p, c_char_p, c_char_p, c_size_t]),
    "cachekit_cache_stats_get": (STATUS, [c_void_p, POINTER(CacheStats)]),
    "cachekit_cache_health": (STATUS, [c_void_p, POINTER(HealthReport)]),
    "cachekit_cache_listener_stats": (STATUS, [c_void_p, POINTER(ListenerStats)]),
    "cachekit_cache_redis_stats": (STATUS, [c_void_p, POINTER(RedisStats)]),
    # coherence section: the fill lock for the binding's own miss paths; the token is uuid4().hex.
    "cachekit_cache_fill_lock_settings_get": (STATUS, [c_void_p, POINTER(FillLockSettings)]),
    "cachekit_cache_fill_lock_try": (STATUS, [c_void_p, c_char_p, c_size_t, c_char_p, POINTER(c_int)]),
    "cachekit_cache_fill_lock_read": (STATUS, [c_void_p, c_char_p, c_size_t, BufferPointer]),
    "cachekit_cache_fill_lock_release": (STATUS, [c_void_p, c_char_p, c_size_t, c_char_p, POINTER(c_int)]),
    "cachekit_cache_refresh_due": (STATUS, [c_void_p, c_char_p, c_size_t, POINTER(c_int)]),
    "cachekit_cache_refresh_release": (STATUS, [c_void_p, c_char_p, c_size_t]),
    "cachekit_cache_coherence_stats_get": (STATUS, [c_void_p, POINTER(CoherenceStats)]),
    "cachekit_cache_tracking_stats_get": (STATUS, [c_void_p, POINTER(TrackingStats)]),
    # observability: the exposition and the health report come back as NUL-terminated text in a buffer.
    "cachekit_cache_metrics_text": (STATUS, [c_void_p, BufferPointer]),
    "cachekit_cache_health_v2": (STATUS, [c_void_p, BufferPointer]),
    "cachekit_set_log_handler": (STATUS, [LogFunction, c_void_p, c_int]),
}


class Library:
    """The loaded library with the table applied. Attribute access gives the configured function."""

    def __init__(self, cdll: ctypes.CDLL, path: str):
        self.cdll = cdll
        self.path = path
        for name, (restype, argtypes) in SIGNATURES.items():
            function = getattr(cdll, name)
            function.argtypes = argtypes
            if restype is STATUS:
                function.restype = c_int
                function.errcheck = self._check_status
            else:
                function.restype = restype
            setattr(self, name, function)
        # Hot-path twins of two table entries, with the same signatures: the decorator's hit path
        # checks the status inline (one Python-level errcheck call less per hit) and frees through a
        # PyDLL handle, which keeps the GIL for a call that never blocks. Everything else is checked.
        restype, argtypes = SIGNATURES["cachekit_cache_get"]
        self.cache_get_unchecked = cdll["cachekit_cache_get"]
        self.cache_get_unchecked.argtypes = argtypes
        self.cache_get_unchecked.restype = c_int
        restype, argtypes = SIGNATURES["cachekit_buffer_free"]
        self.buffer_free_holding_gil = ctypes.PyDLL(path)["cachekit_buffer_free"]
        self.buffer_free_holding_gil.argtypes = argtypes
        self.buffer_free_holding_gil.restype = restype

    def _check_status(self, status, function, arguments):
        if status < 0:
            raise self.error(status)
        return status

    def error(self, status: int):
        """The exception for a status, with this thread's last error message."""
        description = self.string(self.cdll.cachekit_strerror(status))
        message = self.string(self.cdll.cachekit_last_error_message())
        return error_for_status(status, description, message)

    @staticmethod
    def string(pointer: int | None) -> str:
        return ctypes.string_at(pointer).decode("utf-8", "replace") if pointer else ""

    def take(self, buffer: Buffer) -> bytes:
        """Copies a library-filled buffer into bytes and releases it."""
        try:
            return ctypes.string_at(buffer.data, buffer.len) if buffer.len else b""
        finally:
            self.cachekit_buffer_free(ctypes.byref(buffer))

    def version_string(self) -> str:
        return self.string(self.cachekit_version_string())


_library: Library | None = None
_lock = threading.Lock()


def library() -> Library:
    """The process-wide library, loaded on first use."""
    global _library
    if _library is None:
        with _lock:
            if _library is None:
                cdll, path = _loader.load(list(SIGNATURES))
                _library = Library(cdll, path)
    return _library
