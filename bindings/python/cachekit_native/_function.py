"""The state behind one decorated function, and its sync and async call paths.

Sync functions call the library directly: a hit is one cachekit_cache_get (the wrapper from
``sync_wrapper`` keeps that path flat); a miss runs the function and cachekit_cache_set stores
the result, and concurrent misses for one key in this process compute once. Async functions
never block the event loop: every library call that may touch Redis runs on a worker thread
(_workers.py), and concurrent misses for one key share one computation.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import functools
import inspect
import itertools
import logging
import os
import threading
import time
import weakref
from ctypes import byref
from typing import Any, Callable, NamedTuple

from blake3 import blake3

from . import _backend_flows, _fast, _ffi, _fill_lock, _function_stats, _invalidation, _refresh, _tenants, serializer
from ._ffi import Buffer
from ._settings import Settings
from ._workers import submit as _submit
from .cache import Cache
from .errors import CacheClosedError, CachekitError, InteropError, SerializationError
from .keys import AutoKeyBuilder, InteropKeyBuilder, function_id

logger = logging.getLogger("cachekit_native")

_TRACKED_KEYS_MAX = 100_000
_MEMO_MAX = 4096
_FLIGHT_WAIT_SECONDS = 60.0
# Exact types whose cache key depends only on (type, value): memoizable.
_SCALARS = frozenset({int, str, bytes, bool, float, type(None)})
_now = time.time
_LEADER_CANCELLED = object()
_string_at = ctypes.string_at


class _Flight:
    """One key's computation in this process; the Event exists only once somebody waits.

    The leader sets ``done`` and then reads ``event``; a waiter sets ``event`` (under the lock,
    so two waiters share one) and then reads ``done``: whichever runs second sees the other's
    write, so a waiter never sleeps through the end of the computation."""
    __slots__ = ("done", "event")

    def __init__(self):
        self.done = False
        self.event: threading.Event | None = None

    def wait(self, lock: threading.Lock) -> None:
        with lock:
            event = self.event
            if event is None:
                event = self.event = threading.Event()
        if not self.done:
            event.wait(_FLIGHT_WAIT_SECONDS)

    def finish(self) -> None:
        self.done = True
        event = self.event
        if event is not None:
            event.set()


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


class CachedFunction:
    """The state behind one decorated function: its key builder, its cache and its counters."""

    def __init__(self, func: Callable[..., Any], settings: Settings):
        self.func = func
        self.settings = settings
        self.name = function_id(func)
        if settings.interop is not None:
            self.builder = InteropKeyBuilder(func, settings.namespace, settings.interop)
            self.pack, self.unpack = serializer.pack_interop, serializer.unpack_interop
        else:
            # serializer= other than the default: serializers.py frames the entries (keyed by its code).
            framed = settings.framed_codec()
            self.builder = AutoKeyBuilder(func, settings.namespace, settings.mode != "minimal",
                                          framed.key_name if framed else None)
            self.pack, self.unpack = (framed.pack, framed.unpack) if framed else (serializer.pack, serializer.unpack)
        self.has_parameters = bool(inspect.signature(func).parameters)
        # cachekit-py's registry id: the raw module.qualname (not the sanitized function id), and
        # an empty segment for no namespace.
        function_hash = blake3(f"{func.__module__}.{func.__qualname__}".encode("utf-8")).hexdigest()[:16]
        self.function_hash = function_hash
        self.key_function = settings.key_function
        self.registry_id = f"ck:reg:{settings.namespace if settings.namespace is not None else ''}:{function_hash}"
        self.cache: Cache | None = None
        self.lock = threading.Lock()
        self.memo: dict[tuple, bytes] = {}
        # Decoded values by key, for the C hit path (_speedups.c): never in secure mode, so no
        # plaintext outlives the call that asked for it.
        # Only the default serializer's values: its decodes hold just dicts, lists and immutable
        # leaves, which is what the memo's copies rebuild (auto's may hold sets or NumPy arrays).
        default_codec = settings.interop is None and self.unpack is serializer.unpack
        self.values: dict[bytes, tuple] | None = {} if default_codec and not settings.encrypted else None
        self.set_document = _fast.document_setter()
        self.flights_lock = threading.Lock()
        self.sync_flights: dict[bytes, _Flight] = {}
        self.completion_numbers = itertools.count(1)
        self.completions = 0  # the number of the last computation finished, for miss_sync
        self.completed: dict[bytes, int] = {}  # key -> the number of its last finished computation
        self.library = _ffi.library()
        # Keys this process stored, for whole-function invalidation, oldest first: an OrderedDict,
        # whose popitem(last=False) is O(1) where a dict's next(iter()) walks its deleted slots.
        self.tracked: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self.last_operation_at: float | None = None
        # cachekit-py's per-function tracker: shared by every decoration of module.qualname.
        self.tracker = _function_stats.tracker(f"{func.__module__}.{func.__qualname__}")
        self.share = self.tracker.join(self)
        # Stale-while-revalidate on an SWR-capable backend object (_backend_flows.py).
        self.refreshes = _refresh.InFlight(_refresh.MAX_REFRESHES_IN_FLIGHT)  # refresh-ahead's, capped as cachekit-py caps them
        self.revalidator = _backend_flows.Revalidator(self) if settings.stale_ttl is not None else None
        # tenant_extractor: one library cache per tenant beside self.cache (_tenants.py).
        self.tenants = _tenants.TenantCaches(self.name, settings.tenant_extractor, settings.open) \
            if settings.tenant_extractor is not None else None

    def open(self) -> Cache:
        cache = self.cache
        if cache is None:
            with self.lock:
                cache = self.cache
                if cache is None:
                    cache = self.cache = self.settings.open()
                    # A multi-tenant function counts its tenants' caches with this one.
                    self.tracker.attach(self.share, cache if self.tenants is None else self.tenants.view(cache))
        return cache

    def key(self, args: tuple, kwargs: dict) -> bytes | None:
        """The cache key, or None when the arguments cannot be keyed (the call then runs uncached).

        Keys of calls whose arguments are all exact scalars are memoized by (types, values): the
        key is a pure function of them, and 1, 1.0 and True differ in type, so never collide."""
        if self.key_function is not None:
            try:
                return self.custom_key(args, kwargs)
            except Exception as error:  # as cachekit-py: a key that cannot be made runs the call uncached
                logger.warning("cachekit_native: cannot key a call to %s, running it uncached: %s", self.name, error)
                return None
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
        except Exception as error:  # cachekit-py runs the call uncached whatever the key step raised
            logger.warning("cachekit_native: cannot key a call to %s, running it uncached: %s", self.name, error)
            return None
        if memo_key is not None:
            if len(self.memo) >= _MEMO_MAX:
                self.memo.clear()
            self.memo[memo_key] = key
        return key

    def custom_key(self, args: tuple, kwargs: dict) -> bytes:
        """cachekit-py's key for key=: "{identity}-{namespace or 'default'}:{returned str}", the
        identity (blake3 of module.qualname, 16 hex) first so two functions never share an entry.
        Called on every call (never memoized: the function need not be pure)."""
        custom = self.key_function(*args, **kwargs)
        if not isinstance(custom, str):
            raise TypeError(f"key function must return str, got {type(custom).__name__}")
        return f"{self.function_hash}-{self.settings.namespace or 'default'}:{custom}".encode("utf-8", "surrogatepass")

    def track(self, key: bytes) -> None:
        tracked = self.tracked
        if key not in tracked:
            if len(tracked) >= _TRACKED_KEYS_MAX:
                tracked.popitem(last=False)
            tracked[key] = None

    # -- sync path ----------------------------------------------------------------------------

    def miss_sync(self, cache: Cache, key: bytes, args: tuple, kwargs: dict, seen: int) -> Any:
        """Computes and stores; concurrent misses for one key in this process compute once.

        ``seen`` is ``self.completions`` read before the caller's lookup: a computation of this key
        that completed after it stored what the lookup missed, so the caller reads again. The
        leader takes no lock and makes no Event: a caller that finds its flight makes one."""
        flight = _Flight()
        found = self.sync_flights.setdefault(key, flight)  # one step under the GIL
        leader = found is flight
        if leader:
            recheck = self.completed.get(key, -1) > seen
        else:
            found.wait(self.flights_lock)
            recheck = True
        try:
            if recheck:
                document = self.lookup(cache, key)
                if document is not None:
                    try:
                        return self.unpack(document, key)
                    except SerializationError:
                        pass
            if not leader:
                return self.func(*args, **kwargs)  # the leader failed or stored nothing: compute ourselves
            return self.fill_sync(cache, key, args, kwargs)
        finally:
            if leader:
                if self.sync_flights.get(key) is flight:  # a forked child starts with none
                    del self.sync_flights[key]
                # Numbered after the store: a caller that read `completions` before its lookup
                # read a smaller number, so it reads again (next() is one step under the GIL).
                number = next(self.completion_numbers)
                self.completions = number
                if len(self.completed) >= _MEMO_MAX:
                    self.completed.clear()
                self.completed[key] = number
                flight.finish()

    def fill_sync(self, cache: Cache, key: bytes, args: tuple, kwargs: dict) -> Any:
        """Computes and stores under the cross-process fill lock, or returns the value another
        process stored while this one waited for the lock (_fill_lock.py)."""
        if _fill_lock._settings(cache) is None:  # no lock applies (no Redis, or fill_lock off)
            result = self.func(*args, **kwargs)
            self.store(cache, key, result)
            return result

        def compute() -> Any:
            result = self.func(*args, **kwargs)
            self.store(cache, key, result)
            return result

        kind, value = _fill_lock.run_sync(cache, key, lambda: _fill_lock.read(cache, key), compute)
        if kind == "document":
            try:
                return self.unpack(value, key)
            except SerializationError:
                return compute()
        return value

    async def fill_async(self, cache: Cache, key: bytes, args: tuple, kwargs: dict, inline: bool) -> tuple[Any, bytes | None]:
        """fill_sync for coroutines: (result, stored document); every Redis call on a worker."""
        async def compute() -> tuple[Any, bytes | None]:
            result = await self.func(*args, **kwargs)
            document = self.store(cache, key, result) if inline else await _submit(self.store, cache, key, result)
            return result, document

        async def read() -> bytes | None:
            return await _submit(_fill_lock.read, cache, key)

        if self.settings.host_backend is not None and _backend_flows.has_lock(self.settings.host_backend):
            return await _backend_flows.fill_locked_async(self, cache, key, read, compute)
        kind, value = await _fill_lock.run_async(cache, key, _submit, read, compute)
        if kind == "document":
            try:
                return self.unpack(value, key), value
            except SerializationError:
                return await compute()
        return value

    def store(self, cache: Cache, key: bytes, result: Any) -> bytes | None:
        """Packs and stores result; returns the document, or None when it cannot be stored."""
        try:
            document = self.pack(result, key)
        except InteropError:
            raise
        except (TypeError, ValueError) as error:  # serializers.py's SerializationError is a ValueError
            logger.warning("cachekit_native: %s returned a value cachekit cannot store; not cached: %s",
                           self.name, error)
            return None
        self.track(key)
        try:
            if self.settings.uses_registry:
                # The write and its key-registry record (cachekit-py's track_key) in one round trip.
                cache.set_tracked(self.registry_id, key, document, None)
            else:
                self.set_document(cache, key, document, self.settings.has_l2)
        except CachekitError as error:
            logger.warning("cachekit_native: storing a result of %s failed: %s", self.name, error)
        except CacheClosedError:
            return None  # cache_close() ran during the call: the result is returned, not stored
        return document

    @staticmethod
    def lookup(cache: Cache, key: bytes) -> bytes | None:
        """cache.get, where a cache closed under the call (cache_close() racing it) is a miss."""
        try:
            return cache.get(key)
        except CacheClosedError:
            return None

    def safe_delete(self, cache: Cache, key: bytes) -> bool:
        try:
            cache.delete(key)
            return True
        except CacheClosedError:
            return False
        except CachekitError as error:
            logger.error("cachekit_native: invalidating a key of %s failed: %s", self.name, error)
            return False

    # -- async path ---------------------------------------------------------------------------

    async def call_async(self, args: tuple, kwargs: dict) -> Any:
        if kwargs and "_bypass_cache" in kwargs:  # as cachekit-py: any value, the cache is not touched
            kwargs = {k: v for k, v in kwargs.items() if k != "_bypass_cache"}
            return await self.func(*args, **kwargs)
        key = self.key(args, kwargs)
        if key is None:
            return await self.func(*args, **kwargs)
        loop = asyncio.get_running_loop()
        if self.tenants is not None:
            tenant = self.tenants.tenant(args, kwargs)
            if tenant is None:
                return await self.func(*args, **kwargs)
            cache = await _submit(self.tenants.cache, tenant)
        else:
            cache = self.cache or await _submit(self.open)
        self.last_operation_at = _now()
        # Without Redis no library call can wait on the network: run them on the loop. With Redis,
        # an L1 hit is still answered on the loop (L1-only reads never touch the network); only
        # an L1 miss goes to a worker thread.
        inline = not self.settings.has_l2
        stale = False
        try:
            document = cache.get_local(key)
            if document is None:
                if self.revalidator is not None:
                    document, stale = await _submit(self.revalidator.read, cache, key)
                else:
                    document = cache.get(key) if inline else await _submit(cache.get, key)
        except CacheClosedError:  # cache_close() ran under the call: a miss
            document = None
        if document is not None:
            try:
                value = self.unpack(document, key)
                if self.settings.refreshes_ahead:
                    _refresh.after_hit_async(self, cache, key, args, kwargs)
                if stale:
                    self.revalidator.after_stale_hit_async(cache, key, args, kwargs)
                return value
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
            return result if document is None else self.unpack(document, key)
        flight = loop.create_future()
        flights[key] = flight
        try:
            result, document = await self.fill_async(cache, key, args, kwargs, inline)
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

    # -- statistics and lifetime ------------------------------------------------------------------

    def info(self) -> CacheInfo:
        self.open()
        value = self.tracker.totals()
        operations = value.get("l2_operations", 0)
        latency = value.get("l2_latency_total_ns", 0) / operations / 1e6 if operations else 0.0
        clears = self.tracker.clear_count
        session = f"{_function_stats.session()}:{self.name}" + (f"#{clears}" if clears else "")
        return CacheInfo(hits=value.get("hits", 0), misses=value.get("misses", 0), l1_hits=value.get("l1_hits", 0),
                         l2_hits=value.get("l2_hits", 0), maxsize=None, currsize=None, l2_avg_latency_ms=latency,
                         last_operation_at=self.tracker.last_operation_at(), session_id=session)

    def stats(self) -> dict[str, int]:
        cache = self.open()
        return cache.stats() if self.tenants is None else self.tenants.view(cache).stats()

    def clear(self) -> None:
        if self.values:
            self.values.clear()
        _invalidation.invalidate_all(self, self.open())
        self.tracker.clear()

    def close(self) -> None:
        with self.lock:
            cache, self.cache = self.cache, None
        if cache is not None:
            self.tracker.detach(self.share)
            cache.close()
        if self.tenants is not None:
            self.tenants.close_all()


def async_wrapper(state: CachedFunction) -> Callable[..., Any]:
    """The coroutine function that replaces state.func."""
    @functools.wraps(state.func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await state.call_async(args, kwargs)

    return wrapper


def sync_wrapper(state: CachedFunction) -> Callable[..., Any]:
    """The function that replaces state.func: the C hit path (_fast.py) when the extension is
    built, else this Python wrapper, its hit path kept flat (every attribute it needs is a local
    of this closure). Both end in ``finish`` for anything but a hit that decodes."""
    func = state.func
    key_for, memo, scalars, tenants = state.key, state.memo, _SCALARS, state.tenants
    cache_get = state.library.cache_get_unchecked
    buffer_free = state.library.buffer_free_holding_gil
    string_at, now, Buffer_, unpack = _string_at, _now, Buffer, state.unpack
    refreshes_ahead, after_hit = state.settings.refreshes_ahead, _refresh.after_hit_sync
    if state.revalidator is not None:  # a stale hit from the backend object revalidates (and refreshes ahead)
        revalidator = state.revalidator

        def after_hit(state, cache, key, args, kwargs, refresh=after_hit if refreshes_ahead else None):
            if refresh is not None:
                refresh(state, cache, key, args, kwargs)
            revalidator.after_hit_sync(cache, key, args, kwargs)

        refreshes_ahead = True

    def finish(cache: Cache, key: bytes, args: tuple, kwargs: dict, status: int, document: bytes | None,
               seen: int) -> Any:
        """What follows the lookup: decode a hit, raise an error status, or compute a miss."""
        if status == 0:
            try:
                value = unpack(document, key)
                if refreshes_ahead:
                    after_hit(state, cache, key, args, kwargs)
                return value
            except SerializationError as error:
                logger.warning("cachekit_native: dropping an undecodable entry of %s: %s", state.name, error)
                state.safe_delete(cache, key)
        elif status < 0:
            raise state.library.error(status)
        return state.miss_sync(cache, key, args, kwargs, seen)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
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
            if kwargs and "_bypass_cache" in kwargs:  # as cachekit-py: any value, the cache is not touched
                del kwargs["_bypass_cache"]
                return func(*args, **kwargs)
            key = key_for(args, kwargs)
            if key is None:
                return func(*args, **kwargs)
        tenant = None
        if tenants is not None:
            tenant = tenants.tenant(args, kwargs)
            if tenant is None:  # as cachekit-py: no tenant, no cache
                return func(*args, **kwargs)
        # Counted as a call in flight on the cache, so cache_close() on another thread frees the
        # handle only after this call leaves; a cache closed before it entered is replaced.
        while True:
            cache = (state.cache or state.open()) if tenant is None else tenants.cache(tenant)
            calls = cache.calls
            calls.in_flight.append(None)
            if not calls.closed:
                break
            calls.leave()
        seen = state.completions
        state.last_operation_at = now()
        out = Buffer_()
        out_ref = byref(out)
        try:
            # A hit is this one library call (the GIL is released: an L1 miss asks Redis).
            status = cache_get(calls.handle, key, len(key), out_ref)
            document = string_at(out.data, out.len) if status == 0 else None
            if status == 0:
                buffer_free(out_ref)
        finally:
            calls.leave()
        if status == 0 and not refreshes_ahead:
            try:
                return unpack(document, key)
            except SerializationError:
                pass  # finish() decodes again, logs and drops the entry
        return finish(cache, key, args, kwargs, status, document, seen)

    if tenants is not None or state.revalidator is not None or state.settings.host_backend is not None:
        return wrapper  # a cache per tenant, revalidation, or a backend object calling back: the Python path
    fast = _fast.hit_path(state, wrapper, finish, after_hit if refreshes_ahead else None)
    if fast is not wrapper:
        functools.update_wrapper(fast, func)
    return fast


_live_states: "weakref.WeakSet[CachedFunction]" = weakref.WeakSet()
_inherited_caches: list[Cache] = []


def track_live(state: CachedFunction) -> None:
    """Registers state so a forked child drops the handles it inherited."""
    _live_states.add(state)


def _forget_handles_after_fork() -> None:
    # A forked child must not share the parent's Redis connections or locks: each function opens
    # its own cache on its next call. The inherited handles are kept, never freed: freeing one
    # could wait on a lock some parent thread held at fork time.
    for state in list(_live_states):
        if state.cache is not None:
            _inherited_caches.append(state.cache)
        if state.tenants is not None:
            _inherited_caches.extend(state.tenants.forget_after_fork())
        state.cache = None
        state.lock = threading.Lock()
        state.flights_lock = threading.Lock()
        state.sync_flights = {}
        state.completed = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_handles_after_fork)

