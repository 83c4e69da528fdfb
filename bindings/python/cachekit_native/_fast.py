"""The C hit path (_speedups.c), when it is built, wired to the library ctypes loaded.

``hit_path`` gives a decorated sync function's callable: the extension's ``HitPath``, which
answers a hit on a memoized key in one crossing, or the pure-Python wrapper when the extension
is missing or ``CACHEKIT_NATIVE_SPEEDUPS=0`` (libcachekit's own variable: the tests run both
paths). Both give the same results; everything but the hit runs the same Python code.

What the C code reads by name, so a change to them is a change to _speedups.c too (a shape it
does not know sends the call to the Python path or raises, never crashes): CachedFunction's
``cache``, ``settings.has_l2``, ``completions``, ``last_operation_at``, ``memo`` and ``values``;
Cache's ``_calls``; _Calls' ``in_flight`` (a list), ``closed``, ``handle`` (a c_void_p) and
``_release()``.
"""

from __future__ import annotations

import ctypes
import os
from datetime import date, datetime, time
from typing import Any, Callable

from . import _ffi
from .errors import CacheClosedError

try:
    from . import _speedups
except ImportError:  # a checkout or a pure build without the compiled extension
    _speedups = None

# Immutable types a decoded value may share with its copies (serializer.py's temporal values).
_LEAF_TYPES = (datetime, date, time)
_bound = False


def available() -> bool:
    """True when decorated sync functions take the C hit path."""
    return _speedups is not None and os.environ.get("CACHEKIT_NATIVE_SPEEDUPS", "1") != "0"


def _bind() -> None:
    global _bound
    if not _bound:
        cdll = _ffi.library().cdll
        _speedups.bind(*(ctypes.cast(getattr(cdll, name), ctypes.c_void_p).value
                         for name in ("cachekit_cache_get", "cachekit_buffer_free", "cachekit_cache_set")))
        _bound = True


def hit_path(state: Any, wrapper: Callable[..., Any], finish: Callable[..., Any], after_hit: Any) -> Callable[..., Any]:
    """The callable for state's sync function: wrapper itself without the extension."""
    if not available():
        return wrapper
    _bind()
    return _speedups.HitPath(state, state.memo, wrapper, state.key, state.func, finish, state.unpack, after_hit,
                             state.values, _LEAF_TYPES)


def _set_through_ctypes(cache: Any, key: bytes, document: bytes, release_gil: bool) -> None:
    cache.set(key, document, None)


def _set_through_extension(cache: Any, key: bytes, document: bytes, release_gil: bool) -> None:
    status = _speedups.set(cache.calls, key, document, -1, release_gil)  # -1: the cache's default TTL
    if status is None:
        raise CacheClosedError("the cache is closed")
    if status < 0:
        raise _ffi.library().error(status)


def document_setter() -> Callable[[Any, bytes, bytes, bool], None]:
    """setter(cache, key, document, release_gil): cache.set(key, document) with the cache's default
    TTL, through the extension when it is built (no ctypes argument conversion); the same statuses
    raise the same exceptions, a closed cache CacheClosedError. Chosen once, by the caller."""
    if not available():
        return _set_through_ctypes
    _bind()
    return _set_through_extension
