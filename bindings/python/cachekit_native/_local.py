"""``@cache.local``: cachekit-py's in-process object cache. Values are the function's own objects,
returned as they are (a hit is the same object, tuples stay tuples), so nothing crosses into the
library but the key: there is no serialization, no Redis and no encryption here.

As cachekit 0.24.1: ``ttl`` (seconds, default 300) and ``max_entries`` (default 256) bound it, the
least recently used entry goes first when it is full, expired entries go before live ones;
concurrent misses on one key run the function once (threads and asyncio alike) and every caller
gets that one object; ``invalidate_cache`` says ``NO_L2``. A forked child keeps the entries (its
own copies of the objects) unless a parent thread was changing them at the fork, and forgets the
parent's calls in flight, whose threads it does not have.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable

from ._function import CacheInfo
from ._invalidation import InvalidationOutcome
from .keys import packed_arguments

ACCEPTED = frozenset({"ttl", "max_entries", "namespace", "key"})
_MISSING = object()
_EXACT = frozenset({int, str, bytes, bool, type(None)})


class ObjectStore:
    """An LRU map of key -> (object, expiry) with hit counts; one lock, reset in a forked child."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[Any, tuple[Any, float]] = OrderedDict()
        self.hits = 0

    def after_fork(self) -> None:
        """In the child, single-threaded: a lock held at the fork may guard half-made changes."""
        if self._lock.acquire(blocking=False):
            self._lock.release()
        else:
            self._entries = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The object, counted as a hit, or _MISSING."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return _MISSING
            if time.monotonic() >= entry[1]:
                del self._entries[key]
                return _MISSING
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Any, value: Any, ttl: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._entries.pop(key, None)
            if len(self._entries) >= self.max_entries:
                for stale in [k for k, (_, expires) in self._entries.items() if now >= expires]:
                    del self._entries[stale]
            while len(self._entries) >= self.max_entries:
                self._entries.popitem(last=False)
            self._entries[key] = (value, now + ttl)

    def delete(self, key: Any) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._entries)


class _ThreadFlight:
    __slots__ = ("done", "value", "error")

    def __init__(self):
        self.done = threading.Event()
        self.value: Any = _MISSING
        self.error: BaseException | None = None


def check_options(options: dict[str, Any]) -> None:
    """Refuses what cachekit-py refuses, at decoration time."""
    _validated(options)


def _validated(options: dict[str, Any]) -> tuple[int, int, str | None, Callable[..., str] | None]:
    unknown = set(options) - ACCEPTED
    if unknown:
        raise TypeError(f"@cache.local() only accepts: key, max_entries, namespace, ttl. Got: {sorted(unknown)}. "
                        "For serialized caching use @cache(), for encryption use @cache.secure().")
    ttl, max_entries = options.get("ttl", 300), options.get("max_entries", 256)
    for name, value in (("ttl", ttl), ("max_entries", max_entries)):
        if not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    return ttl, max_entries, options.get("namespace"), options.get("key")


def local_wrapper(func: Callable[..., Any], options: dict[str, Any]) -> Callable[..., Any]:
    # namespace is taken as cachekit-py takes it; each function has a store of its own, so it
    # separates nothing more here.
    ttl, max_entries, _namespace, key_function = _validated(options)
    store = ObjectStore(max_entries)
    counts_lock = threading.Lock()
    counts = {"runs": 0, "joined": 0}
    thread_flights: dict[str, _ThreadFlight] = {}
    async_flights: dict[tuple[int, str], asyncio.Task] = {}  # (id of the loop, key): one loop's calls

    def after_fork() -> None:
        nonlocal counts_lock
        counts_lock = threading.Lock()
        thread_flights.clear()
        async_flights.clear()
        store.after_fork()

    def count(name: str) -> None:
        with counts_lock:
            counts[name] += 1

    def drop(flight_key: tuple, task: asyncio.Task) -> None:
        with counts_lock:
            if async_flights.get(flight_key) is task:
                del async_flights[flight_key]

    def make_key(args: tuple, kwargs: dict) -> Any:
        if key_function is not None:
            return key_function(*args, **kwargs)
        # Keys never leave the process, so they need no hash: exact scalars key by (types,
        # values), so 1, 1.0 and True differ as in cachekit-py's keys; anything else by the
        # normalized MessagePack that cachekit-py's key hashes. (Floats go that way too: -0.0 and
        # 0.0 share a key there, and NaN, unequal to itself in a tuple, has one.)
        types = tuple(map(type, args))
        if not kwargs and _EXACT.issuperset(types):
            return types, args
        return packed_arguments(args, kwargs)

    def forget(key: Any) -> None:
        # A call that starts after an invalidation never joins one that started before it.
        with counts_lock:
            if key is None:
                thread_flights.clear()
                async_flights.clear()
            else:
                thread_flights.pop(key, None)
                for flight_key in [k for k in async_flights if k[1] == key]:
                    del async_flights[flight_key]

    def invalidate_cache(*args: Any, **kwargs: Any) -> InvalidationOutcome:
        key = make_key(args, kwargs)
        forget(key)
        store.delete(key)
        return InvalidationOutcome.NO_L2

    async def ainvalidate_cache(*args: Any, **kwargs: Any) -> InvalidationOutcome:
        return invalidate_cache(*args, **kwargs)

    def cache_clear() -> None:
        forget(None)
        store.clear()

    def cache_info() -> CacheInfo:
        # Calls, not lookups: a call that joined another's run and got its value is a hit.
        with counts_lock:
            hits, misses = store.hits + counts["joined"], counts["runs"]
        return CacheInfo(hits=hits, misses=misses, l1_hits=hits, l2_hits=0, maxsize=max_entries,
                         currsize=store.size, l2_avg_latency_ms=0.0, last_operation_at=None, session_id=None)

    if inspect.iscoroutinefunction(func):
        async def run_async(key: Any, args: tuple, kwargs: dict) -> Any:
            count("runs")
            value = await func(*args, **kwargs)
            store.put(key, value, ttl)
            return value

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = make_key(args, kwargs)
            value = store.get(key)
            if value is not _MISSING:
                return value
            flight_key = (id(asyncio.get_running_loop()), key)
            with counts_lock:
                task = async_flights.get(flight_key)
                joined = task is not None and not task.done()
                if not joined:
                    task = asyncio.ensure_future(run_async(key, args, kwargs))
                    async_flights[flight_key] = task
                    task.add_done_callback(functools.partial(drop, flight_key))
            value = await asyncio.shield(task)  # a cancelled caller leaves the call to the others
            if joined:
                count("joined")
            return value
    else:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = make_key(args, kwargs)
            while True:
                value = store.get(key)
                if value is not _MISSING:
                    return value
                with counts_lock:
                    flight = thread_flights.get(key)
                    leader = flight is None
                    if leader:
                        flight = thread_flights[key] = _ThreadFlight()
                if leader:
                    break
                flight.done.wait()
                if flight.error is None:
                    count("joined")
                    return flight.value
                if isinstance(flight.error, Exception):
                    raise flight.error
                # The run was interrupted (KeyboardInterrupt, SystemExit), not failed: try again.
            try:
                count("runs")
                flight.value = func(*args, **kwargs)
                store.put(key, flight.value, ttl)
                return flight.value
            except BaseException as error:
                flight.error = error
                raise
            finally:
                with counts_lock:
                    if thread_flights.get(key) is flight:
                        del thread_flights[key]
                flight.done.set()

    _forked_resets.add(wrapper)
    wrapper._cachekit_after_fork = after_fork
    wrapper.invalidate_cache = invalidate_cache
    wrapper.ainvalidate_cache = ainvalidate_cache
    wrapper.cache_clear = cache_clear
    wrapper.cache_info = cache_info
    wrapper.__wrapped__ = func
    return wrapper



# Every live @cache.local function, for the fork hook (weak: a dropped function goes).
_forked_resets: weakref.WeakSet = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for wrapper in list(_forked_resets):
        wrapper._cachekit_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
