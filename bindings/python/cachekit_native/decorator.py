"""``@cache``: cachekit-py's decorator over a libcachekit cache.

The same keys (keys.py), the same stored bytes (serializer.py for the MessagePack document, the
library for the envelope, the CK frame and encryption) and the same Redis layout as cachekit
0.24.1, so a function cached by one is a hit for the other. Each decorated function owns one
library cache, created on its first call from the environment (CACHEKIT_REDIS_URL / REDIS_URL,
CACHEKIT_MASTER_KEY, CACHEKIT_DEPLOYMENT_UUID, ...) and the decorator's options, so its
statistics (``cache_info()``) are the library's own counters.

Sync functions call the library directly: a hit is one cachekit_cache_get; a miss runs the
function and cachekit_cache_set stores the result, and concurrent misses for one key in this
process compute once. Async functions never block the event loop: every library call that may
touch Redis runs on a worker thread (_workers.py), and concurrent misses for one key share one
computation.
"""

from __future__ import annotations

import asyncio
import ctypes
import enum
import functools
import inspect
import logging
import os
import threading
import time
import uuid
import weakref
from ctypes import byref
from typing import Any, Callable, NamedTuple, TypeVar

from blake3 import blake3

from . import _ffi, serializer
from ._ffi import Buffer
from ._workers import submit as _submit
from .cache import TTL_NONE, Cache
from .errors import CachekitError
from .keys import AutoKeyBuilder, InteropKeyBuilder, function_id
from .serializer import InteropError, SerializationError

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("cachekit_native")

_SESSION = str(uuid.uuid4())
_UNSET: Any = object()
_TRACKED_KEYS_MAX = 100_000
_MEMO_MAX = 4096
_FLIGHT_WAIT_SECONDS = 60.0
# Exact types whose cache key depends only on (type, value): memoizable.
_SCALARS = frozenset({int, str, bytes, bool, float, type(None)})
_now = time.time
_LEADER_CANCELLED = object()
_string_at = ctypes.string_at


class ConfigurationError(ValueError):
    """The decorator's options are inconsistent (raised at decoration time)."""


class InvalidationOutcome(enum.Enum):
    """What one exact-key invalidate_cache(*args) did in L2, as cachekit-py reports it."""
    SUCCEEDED = "succeeded"  # the Redis delete returned normally
    FAILED = "failed"        # the Redis delete failed (logged); the entry may still be in Redis
    NO_L2 = "no_l2"          # there is no Redis to delete from (L1 only)


class CacheInfo(NamedTuple):
    """cachekit-py's CacheInfo: per-function statistics (here: the function's library counters)."""
    hits: int
    misses: int
    l1_hits: int
    l2_hits: int
    maxsize: int | None
    currsize: int | None
    l2_avg_latency_ms: float
    last_operation_at: float | None
    session_id: str | None = None


# Presets as cachekit 0.24.1 defines them: (mode, default ttl, integrity).
_PRESETS = {
    None: ("plain", None),
    "minimal": ("minimal", 300),
    "production": ("plain", 600),
    "secure": ("secure", 600),
}


class _Settings:
    """Everything resolved at decoration time."""

    def __init__(self, intent: str | None, options: dict[str, Any]):
        unknown = set(options) - {"ttl", "namespace", "backend", "redis_url", "interop", "master_key",
                                  "integrity_checking", "l1_enabled", "encryption", "deployment_uuid",
                                  "l1_max_size_mb", "l1_max_entries", "max_value_size", "connect_timeout_ms",
                                  "previous_master_keys",
                                  "command_timeout_ms"}
        if unknown:
            raise ConfigurationError(f"@cache{'.' + intent if intent else ''} does not accept "
                                     f"{', '.join(sorted(unknown))}")
        mode, ttl = _PRESETS[intent]
        encryption = options.get("encryption")
        if encryption not in (None, True, False):
            raise ConfigurationError(f"encryption must be True, False or None, got {encryption!r}")
        if intent == "secure" and encryption is False:
            raise ConfigurationError("@cache.secure always encrypts: encryption=False is refused")
        if encryption is True and mode != "secure":
            if mode == "minimal":
                raise ConfigurationError("@cache.minimal has integrity checking off, which encryption does not allow")
            if options.get("interop") is None:
                mode = "secure"
        # cachekit-py refuses to guess: with a master key in the environment, a cache must say
        # whether it encrypts (encryption=False keeps plaintext).
        if mode != "secure" and encryption is None and options.get("interop") is None \
                and options.get("backend", _UNSET) is not None and os.environ.get("CACHEKIT_MASTER_KEY"):
            raise ConfigurationError("A master key is present (CACHEKIT_MASTER_KEY) but this cache states no "
                                     "encryption intent: pass encryption=False for plaintext, or use "
                                     "@cache.secure / encryption=True to encrypt")
        integrity = options.get("integrity_checking", _UNSET)
        if integrity is not _UNSET:
            if mode == "secure" and not integrity:
                raise ConfigurationError("encrypted caching keeps integrity checking on: integrity_checking=False "
                                         "is refused with @cache.secure")
            if mode in ("plain", "minimal"):
                mode = "plain" if integrity else "minimal"
        self.ttl = options.get("ttl", ttl)
        if self.ttl is not None and (isinstance(self.ttl, bool) or not isinstance(self.ttl, int) or self.ttl < 0):
            raise ConfigurationError(f"ttl must be a non-negative int (seconds) or None, got {self.ttl!r}")
        self.namespace = options.get("namespace")
        if isinstance(self.namespace, str):
            self.namespace = str.__str__(self.namespace)  # cachekit-py rebinds str subclasses too
        # cachekit-py reserves it: a key under it could take a tracking set's name.
        if self.namespace == "ck" or (self.namespace or "").startswith("ck:"):
            raise ConfigurationError("namespace 'ck' (and 'ck:*') is reserved for cachekit's key registry")
        self.interop = options.get("interop")
        self.master_key = options.get("master_key")
        if isinstance(self.master_key, (bytes, bytearray)):
            raise ConfigurationError("master_key must be a hex string, not bytes (as cachekit-py requires)")
        if self.master_key is not None and mode != "secure" and self.interop is None:
            raise ConfigurationError("master_key is only used by @cache.secure (or interop mode)")
        # Interop entries are encrypted exactly when a master key is in force (the library's rule).
        self.encrypted = mode == "secure" or (self.interop is not None
                                              and (self.master_key is not None or encryption is True))
        if self.encrypted and not (self.master_key or os.environ.get("CACHEKIT_MASTER_KEY")):
            raise ValueError("cache.secure requires master_key parameter or CACHEKIT_MASTER_KEY environment variable")
        if self.interop is not None and not self.encrypted and os.environ.get("CACHEKIT_MASTER_KEY"):
            raise ConfigurationError("CACHEKIT_MASTER_KEY is set, so interop entries would be encrypted: use "
                                     "@cache.secure(interop=...) to say so, or unset it for plaintext interop")
        backend = options.get("backend", _UNSET)
        if backend is not _UNSET and backend is not None:
            raise ConfigurationError("backend= takes only None (L1-only); give Redis as redis_url= or "
                                     "CACHEKIT_REDIS_URL / REDIS_URL")
        self.l1_only = backend is None
        if self.l1_only and self.encrypted:
            raise ConfigurationError("encryption requires a backend: backend=None (L1-only) would hold "
                                     "values only in this process")
        if self.interop is not None:
            if self.l1_only:
                raise ConfigurationError("interop mode requires a shared backend (backend=None is L1-only)")
            mode = "interop"
        self.mode = mode
        self.redis_url = options.get("redis_url")
        self.cache_options = {
            "mode": mode,
            # cachekit-py's Redis prefix is its backend tenant, "default" for single-tenant use; the
            # deployment UUID only names the encryption tenant. Stated here, not left to the
            # library default, because the decorator's keys must match cachekit-py's exactly.
            "key_prefix": "t:default:",
            "master_key": self.master_key,
            # Decrypt-only keys for rotation: the decorator's own, else cachekit-py's variable.
            "previous_master_keys": options.get("previous_master_keys",
                                                os.environ.get("CACHEKIT_PREVIOUS_MASTER_KEYS") or None),
            "deployment_uuid": options.get("deployment_uuid"),
            "l1_max_size_mb": options.get("l1_max_size_mb"),
            "l1_max_entries": 0 if options.get("l1_enabled", True) is False else options.get("l1_max_entries"),
            "max_value_size": options.get("max_value_size"),
            "connect_timeout_ms": options.get("connect_timeout_ms"),
            "command_timeout_ms": options.get("command_timeout_ms"),
            # cachekit-py writes SETEX for ttl > 0 and SET otherwise: None and 0 both mean no expiry.
            "default_ttl": self.ttl if self.ttl else TTL_NONE,
        }
        if mode == "interop":
            self.cache_options["key_prefix"] = ""  # interop keys are bare: every SDK reads the same key
        if self.l1_only:
            self.cache_options["redis_url"] = ""
        elif self.redis_url is not None:
            self.cache_options["redis_url"] = self.redis_url
        self.has_l2 = False

    @property
    def uses_registry(self) -> bool:
        """Whether cachekit-py keeps a key registry for this function: a tenant-scoped Redis
        backend does; interop mode's bare RedisBackend (and L1-only) does not."""
        return self.has_l2 and self.mode != "interop"

    def open(self) -> Cache:
        # Where the library finds Redis: the option, else the environment (cachekit_config_load_env).
        self.has_l2 = not self.l1_only and bool(
            self.redis_url if self.redis_url is not None
            else os.environ.get("CACHEKIT_REDIS_URL") or os.environ.get("REDIS_URL"))
        return Cache(from_env=True, **self.cache_options)


class _CachedFunction:
    """The state behind one decorated function: its key builder, its cache and its counters."""

    def __init__(self, func: Callable[..., Any], settings: _Settings):
        self.func = func
        self.settings = settings
        self.name = function_id(func)
        if settings.interop is not None:
            self.builder = InteropKeyBuilder(func, settings.namespace, settings.interop)
            self.pack, self.unpack = serializer.pack_interop, serializer.unpack_interop
        else:
            self.builder = AutoKeyBuilder(func, settings.namespace, settings.mode != "minimal")
            self.pack, self.unpack = serializer.pack, serializer.unpack
        self.has_parameters = bool(inspect.signature(func).parameters)
        # cachekit-py's registry id: the raw module.qualname (not the sanitized function id), and
        # an empty segment for no namespace.
        function_hash = blake3(f"{func.__module__}.{func.__qualname__}".encode("utf-8")).hexdigest()[:16]
        self.registry_id = f"ck:reg:{settings.namespace if settings.namespace is not None else ''}:{function_hash}"
        self.cache: Cache | None = None
        self.lock = threading.Lock()
        self.memo: dict[tuple, bytes] = {}
        self.flights_lock = threading.Lock()
        self.sync_flights: dict[bytes, threading.Event] = {}
        self.completions = 0  # computations finished (under flights_lock), for miss_sync
        self.completed: dict[bytes, int] = {}  # key -> completions when it last finished
        self.library = _ffi.library()
        self.handle = None  # the cache's c_void_p once open (read without a lock on the hit path)
        self.tracked: dict[bytes, None] = {}  # keys this process stored, for whole-function invalidation
        self.baseline: dict[str, int] = {}
        self.clear_count = 0
        self.last_operation_at: float | None = None

    def open(self) -> Cache:
        cache = self.cache
        if cache is None:
            with self.lock:
                cache = self.cache
                if cache is None:
                    cache = self.cache = self.settings.open()
                    self.handle = cache.handle
        return cache

    def key(self, args: tuple, kwargs: dict) -> bytes | None:
        """The cache key, or None when the arguments cannot be keyed (the call then runs uncached).

        Keys of calls whose arguments are all exact scalars are memoized by (types, values): the
        key is a pure function of them, and 1, 1.0 and True differ in type, so never collide."""
        types = tuple(map(type, args))
        if kwargs:
            kw_types = tuple(map(type, kwargs.values()))
            memo_key = (types, args, kw_types, tuple(kwargs.items())) \
                if _SCALARS.issuperset(types) and _SCALARS.issuperset(kw_types) else None
        else:
            memo_key = (types, args) if _SCALARS.issuperset(types) else None
        if memo_key is not None:
            key = self.memo.get(memo_key)
            if key is not None:
                return key
        try:
            key = self.builder.key(args, kwargs).encode("utf-8")
        except InteropError:
            raise  # interop fails loud, as cachekit-py does
        except TypeError as error:
            logger.warning("cachekit_native: cannot key a call to %s, running it uncached: %s", self.name, error)
            return None
        if memo_key is not None:
            if len(self.memo) >= _MEMO_MAX:
                self.memo.clear()
            self.memo[memo_key] = key
        return key

    def track(self, key: bytes) -> None:
        tracked = self.tracked
        if key not in tracked:
            if len(tracked) >= _TRACKED_KEYS_MAX:
                tracked.pop(next(iter(tracked)))
            tracked[key] = None

    # -- sync path ----------------------------------------------------------------------------

    def miss_sync(self, cache: Cache, key: bytes, args: tuple, kwargs: dict, seen: int) -> Any:
        """Computes and stores; concurrent misses for one key in this process compute once.

        ``seen`` is ``self.completions`` read before the caller's lookup: a computation of this key
        that completed after it stored what the lookup missed, so the caller reads again."""
        with self.flights_lock:
            flight = self.sync_flights.get(key)
            leader = flight is None
            recheck = leader and self.completed.get(key, -1) > seen
            if leader:
                flight = self.sync_flights[key] = threading.Event()
        if not leader:
            flight.wait(_FLIGHT_WAIT_SECONDS)
            recheck = True
        try:
            if recheck:
                document = cache.get(key)
                if document is not None:
                    try:
                        return self.unpack(document)
                    except SerializationError:
                        pass
            if not leader:
                return self.func(*args, **kwargs)  # the leader failed or stored nothing: compute ourselves
            result = self.func(*args, **kwargs)
            self.store(cache, key, result)
            return result
        finally:
            if leader:
                with self.flights_lock:
                    self.sync_flights.pop(key, None)
                    self.completions += 1
                    if len(self.completed) >= _MEMO_MAX:
                        self.completed.clear()
                    self.completed[key] = self.completions
                flight.set()

    def store(self, cache: Cache, key: bytes, result: Any) -> bytes | None:
        """Packs and stores result; returns the document, or None when it cannot be stored."""
        try:
            document = self.pack(result)
        except InteropError:
            raise
        except TypeError as error:
            logger.warning("cachekit_native: %s returned a value cachekit cannot store; not cached: %s",
                           self.name, error)
            return None
        self.track(key)
        try:
            if self.settings.uses_registry:
                # The write and its key-registry record (cachekit-py's track_key) in one round trip.
                cache.set_tracked(self.registry_id, key, document, None)
            else:
                cache.set(key, document, None)
        except CachekitError as error:
            logger.warning("cachekit_native: storing a result of %s failed: %s", self.name, error)
        return document

    def safe_delete(self, cache: Cache, key: bytes) -> bool:
        try:
            cache.delete(key)
            return True
        except CachekitError as error:
            logger.error("cachekit_native: invalidating a key of %s failed: %s", self.name, error)
            return False

    # -- async path ---------------------------------------------------------------------------

    async def call_async(self, args: tuple, kwargs: dict) -> Any:
        key = self.key(args, kwargs)
        if key is None:
            return await self.func(*args, **kwargs)
        loop = asyncio.get_running_loop()
        cache = self.cache or await _submit(self.open)
        self.last_operation_at = _now()
        # Without Redis no library call can wait on the network: run them on the loop. With Redis,
        # an L1 hit is still answered on the loop (L1-only reads never touch the network); only
        # an L1 miss goes to a worker thread.
        inline = not self.settings.has_l2
        document = cache.get_local(key)
        if document is None:
            document = cache.get(key) if inline else await _submit(cache.get, key)
        if document is not None:
            try:
                return self.unpack(document)
            except SerializationError as error:
                logger.warning("cachekit_native: dropping an undecodable entry of %s: %s", self.name, error)
                if inline:
                    self.safe_delete(cache, key)
                else:
                    await _submit(self.safe_delete, cache, key)
        # One computation per key across this process's concurrent awaiters.
        flights = self.flights(loop)
        flight = flights.get(key)
        if flight is not None:
            outcome = await asyncio.shield(flight)
            if outcome is _LEADER_CANCELLED:
                return await self.call_async(args, kwargs)
            result, document = outcome
            # A fresh decode for each waiter, as a hit would give: nobody shares the leader's object.
            return result if document is None else self.unpack(document)
        flight = loop.create_future()
        flights[key] = flight
        try:
            result = await self.func(*args, **kwargs)
            document = self.store(cache, key, result) if inline else await _submit(self.store, cache, key, result)
            flight.set_result((result, document))
            return result
        except asyncio.CancelledError:
            flight.set_result(_LEADER_CANCELLED)  # the waiters were not cancelled: they retry
            raise
        except BaseException as error:
            flight.set_exception(error)
            flight.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            flights.pop(key, None)

    def flights(self, loop) -> dict[bytes, asyncio.Future]:
        per_loop = getattr(self, "_flights", None)
        if per_loop is None or per_loop[0] is not loop:
            per_loop = self._flights = (loop, {})
        return per_loop[1]

    # -- invalidation and statistics ------------------------------------------------------------

    def invalidate(self, args: tuple, kwargs: dict) -> InvalidationOutcome | None:
        """One entry (its outcome in L2), or with no arguments every entry of the function (None)."""
        cache = self.open()
        if not args and not kwargs and self.has_parameters:
            self.invalidate_all(cache)
            return None
        key = self.key(args, kwargs)
        if key is None:
            return InvalidationOutcome.FAILED
        self.tracked.pop(key, None)
        deleted = self.safe_delete(cache, key)
        if not self.settings.has_l2:
            return InvalidationOutcome.NO_L2
        if deleted and self.settings.uses_registry:
            self.publish(cache, key)
        return InvalidationOutcome.SUCCEEDED if deleted else InvalidationOutcome.FAILED

    def publish(self, cache: Cache, key: bytes | None) -> None:
        """Tells cachekit-py processes to drop their L1 copies (after the Redis change succeeded)."""
        try:
            cache.publish_invalidation(self.registry_id, key)
        except CachekitError as error:
            logger.warning("cachekit_native: announcing an invalidation of %s failed; other processes keep their "
                           "L1 copies until the L1 TTL: %s", self.name, error)

    def invalidate_all(self, cache: Cache) -> None:
        # Entries written by any process: the namespace sweep, where the key layout allows one.
        sweep = self.sweep_namespace()
        if sweep is not None:
            try:
                cache.invalidate_namespace(sweep)
            except CachekitError as error:
                logger.error("cachekit_native: invalidating %s failed: %s", self.name, error)
        mine = list(self.tracked)
        if self.settings.uses_registry:
            # Every key any process (either SDK) recorded, then this process's own keys.
            try:
                cache.drain_registry(self.registry_id, mine)
            except CachekitError as error:
                logger.warning("cachekit_native: key registry drain of %s failed, invalidating local keys only: %s",
                               self.name, error)
            else:
                for key in mine:
                    self.tracked.pop(key, None)  # keys stored while the drain ran stay for the next one
                self.publish(cache, None)
                return
        # Entries this process wrote.
        for key in mine:
            self.safe_delete(cache, key)
            self.tracked.pop(key, None)

    def sweep_namespace(self) -> str | None:
        """The namespace argument of cachekit_cache_invalidate_namespace that covers exactly this
        function's keys: auto keys "ns:{namespace}:func:{id}:args:...", interop "{ns}:{op}:..."."""
        if self.settings.interop is not None:
            return self.builder.prefix[:-1]
        if self.settings.namespace and not self.builder.needs_normalizing:
            return self.builder.prefix[len("ns:"):-1]
        return None

    def info(self) -> CacheInfo:
        stats = self.open().stats()
        base = self.baseline
        value = {name: stats[name] - base.get(name, 0) for name in stats}
        operations = value["l2_operations"]
        latency = value["l2_latency_total_ns"] / operations / 1e6 if operations else 0.0
        session = f"{_SESSION}:{self.name}" + (f"#{self.clear_count}" if self.clear_count else "")
        return CacheInfo(hits=value["hits"], misses=value["misses"], l1_hits=value["l1_hits"],
                         l2_hits=value["l2_hits"], maxsize=None, currsize=None, l2_avg_latency_ms=latency,
                         last_operation_at=self.last_operation_at, session_id=session)

    def stats(self) -> dict[str, int]:
        return self.open().stats()

    def clear(self) -> None:
        self.invalidate_all(self.open())
        self.baseline = self.open().stats()
        self.clear_count += 1
        self.last_operation_at = None

    def close(self) -> None:
        with self.lock:
            cache, self.cache, self.handle = self.cache, None, None
        if cache is not None:
            cache.close()


_live_states: "weakref.WeakSet[_CachedFunction]" = weakref.WeakSet()
_inherited_caches: list[Cache] = []


def _forget_handles_after_fork() -> None:
    # A forked child must not share the parent's Redis connections or locks: each function opens
    # its own cache on its next call. The inherited handles are kept, never freed: freeing one
    # could wait on a lock some parent thread held at fork time.
    for state in list(_live_states):
        if state.cache is not None:
            _inherited_caches.append(state.cache)
        state.cache = state.handle = None
        state.lock = threading.Lock()
        state.flights_lock = threading.Lock()
        state.sync_flights = {}
        state.completed = {}
        state.baseline = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_handles_after_fork)


def _wrap(func: F, settings: _Settings) -> F:
    state = _CachedFunction(func, settings)
    _live_states.add(state)

    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await state.call_async(args, kwargs)

        async def ainvalidate_cache(*args: Any, **kwargs: Any) -> InvalidationOutcome | None:
            return await _submit(state.invalidate, args, kwargs)

        wrapper: Any = async_wrapper
        wrapper.invalidate_cache = ainvalidate_cache
        wrapper.ainvalidate_cache = ainvalidate_cache
    else:
        # The hit path, kept flat: every attribute it needs is a local of this closure.
        key_for, memo, scalars = state.key, state.memo, _SCALARS
        cache_get = state.library.cache_get_unchecked
        buffer_free = state.library.buffer_free_holding_gil
        string_at, now, Buffer_, unpack = _string_at, _now, Buffer, state.unpack

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            key = None
            if not kwargs:
                if len(args) == 1:
                    kind = type(args[0])
                    if kind in scalars:
                        key = memo.get(((kind,), args))
                else:
                    types = tuple(map(type, args))
                    if scalars.issuperset(types):
                        key = memo.get((types, args))
            if key is None:
                key = key_for(args, kwargs)
                if key is None:
                    return func(*args, **kwargs)
            handle = state.handle
            if handle is None:
                handle = state.open().handle
            seen = state.completions
            state.last_operation_at = now()
            out = Buffer_()
            out_ref = byref(out)
            # A hit is this one library call (the GIL is released: an L1 miss asks Redis).
            status = cache_get(handle, key, len(key), out_ref)
            if status == 0:
                document = string_at(out.data, out.len)
                buffer_free(out_ref)
                try:
                    return unpack(document)
                except SerializationError as error:
                    logger.warning("cachekit_native: dropping an undecodable entry of %s: %s", state.name, error)
                    state.safe_delete(state.open(), key)
            elif status < 0:
                raise state.library.error(status)
            return state.miss_sync(state.open(), key, args, kwargs, seen)

        def invalidate_cache(*args: Any, **kwargs: Any) -> InvalidationOutcome | None:
            return state.invalidate(args, kwargs)

        wrapper = sync_wrapper
        wrapper.invalidate_cache = invalidate_cache
    def cache_clear() -> None:
        """Invalidates every entry of the function and restarts its statistics."""
        if inspect.iscoroutinefunction(func) and state.settings.has_l2:
            # As cachekit-py: this would block the event loop on Redis.
            raise TypeError("cache_clear() cannot clear cache for async functions with a backend. "
                            "Use 'await fn.ainvalidate_cache()' instead.")
        state.clear()

    wrapper.cache_info = state.info
    wrapper.cache_stats = state.stats
    wrapper.cache_clear = cache_clear
    wrapper.cache_close = state.close
    wrapper.__wrapped__ = func
    wrapper._cachekit_native = state
    return wrapper


def _make(intent: str | None):
    def decorator_factory(func: F | None = None, /, **options: Any):
        settings = _Settings(intent, options)

        def decorate(f: F) -> F:
            if not callable(f):
                raise TypeError(f"@cache expects a function, got {type(f).__name__}")
            return _wrap(f, settings)

        return decorate if func is None else decorate(func)

    decorator_factory.__name__ = f"cache.{intent}" if intent else "cache"
    return decorator_factory


cache = _make(None)
cache.minimal = _make("minimal")
cache.production = _make("production")
cache.secure = _make("secure")
