"""What the decorator does with a backend object's optional capabilities, as cachekit-py 0.24.1:

- stale-while-revalidate (an SWR-capable object and a stale window): a stale hit is served at
  once and the function re-runs in the background, at most once per key in this process and at
  most 32 keys at a time per function (more are skipped: a later stale hit retries); async
  functions first take the object's ``acquire_lock`` lease when it has one (not granted:
  another client revalidates, so nothing is done), sync ones run on a daemon thread. A failing
  revalidation stores nothing and is only logged. The arguments are deep-copied first (they
  cannot be: skipped).
- the stampede lock (an object with ``acquire_lock``): an async miss computes under
  ``acquire_lock(key, timeout=30, blocking_timeout=5)`` and reads again first, granted or not.

The library's fill lock is Redis's, so a backend object has only these.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from typing import Any

from . import _host_backend, _refresh
from ._workers import submit as _submit
from .errors import CacheClosedError, CachekitError

logger = logging.getLogger("cachekit_native")

MAX_REVALIDATIONS = 32  # cachekit-py's _L2_SWR_MAX_CONCURRENT_REFRESHES
LEASE_SECONDS = 30.0
LOCK_TIMEOUT_SECONDS, LOCK_WAIT_SECONDS = 30.0, 5.0


def has_lock(backend: Any) -> bool:
    """cachekit-py's supports_locking: on the instance."""
    return callable(getattr(backend, "acquire_lock", None))


class Revalidator:
    """One decorated function's background revalidations of stale hits."""

    def __init__(self, state):
        self.state = state
        self.in_flight = _refresh.InFlight(MAX_REVALIDATIONS)
        self.tasks: set[asyncio.Task] = set()

    def read(self, cache, key: bytes) -> tuple[bytes | None, bool]:
        """cache.get and whether the object called the entry stale (on the thread that read it)."""
        _host_backend.take_stale()
        try:
            document = cache.get(key)
        except CacheClosedError:
            return None, False
        return document, document is not None and _host_backend.take_stale()

    def _claim(self, key: bytes) -> bool:
        return self.in_flight.claim(key)

    def _release(self, key: bytes) -> None:
        self.in_flight.release(key)

    def _snapshot(self, key: bytes, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        snapshot = _refresh.copy_arguments(self.state, args, kwargs, "revalidating")
        if snapshot is None:
            self._release(key)
        return snapshot

    def _failed(self, error: BaseException) -> None:
        logger.warning("cachekit_native: revalidating a stale value of %s failed; it stays: %s",
                       self.state.name, error)

    def after_hit_sync(self, cache, key: bytes, args: tuple, kwargs: dict) -> None:
        """The sync hit path's hook: the read ran on this thread, so its staleness is here."""
        if not _host_backend.take_stale() or not self._claim(key):
            return
        snapshot = self._snapshot(key, args, kwargs)
        if snapshot is None:
            return
        try:
            threading.Thread(target=contextvars.copy_context().run, args=(self._revalidate_sync, cache, key, *snapshot),
                             daemon=True, name="cachekit-swr-revalidate").start()
        except Exception as error:
            self._release(key)
            self._failed(error)

    def _revalidate_sync(self, cache, key: bytes, args: tuple, kwargs: dict) -> None:
        try:
            self.state.store(cache, key, self.state.func(*args, **kwargs))
        except Exception as error:
            self._failed(error)
        finally:
            self._release(key)

    def after_stale_hit_async(self, cache, key: bytes, args: tuple, kwargs: dict) -> None:
        if not self._claim(key):
            return
        snapshot = self._snapshot(key, args, kwargs)
        if snapshot is None:
            return
        task = asyncio.get_running_loop().create_task(self._revalidate_async(cache, key, *snapshot))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _revalidate_async(self, cache, key: bytes, args: tuple, kwargs: dict) -> None:
        backend = self.state.settings.host_backend
        try:
            if has_lock(backend):
                async with backend.acquire_lock(_text(key), timeout=LEASE_SECONDS, blocking_timeout=None) as leased:
                    if leased:  # not granted: another client revalidates
                        await self._recompute_async(cache, key, args, kwargs)
            else:
                await self._recompute_async(cache, key, args, kwargs)
        except Exception as error:
            self._failed(error)
        finally:
            self._release(key)

    async def _recompute_async(self, cache, key: bytes, args: tuple, kwargs: dict) -> None:
        result = await self.state.func(*args, **kwargs)
        await _submit(self.state.store, cache, key, result)


def _text(key: bytes) -> str:
    return key.decode("utf-8", "surrogatepass")


async def fill_locked_async(state, cache, key: bytes, read, compute) -> tuple[Any, bytes | None]:
    """An async miss under the object's acquire_lock: read again once the lock answers (granted
    or timed out: another caller may have filled it), else compute and store. A lock that fails
    to open computes without it; the function's own error leaves after the lock is released."""
    backend = state.settings.host_backend
    try:
        lock = backend.acquire_lock(_text(key), timeout=LOCK_TIMEOUT_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS)
        entered = await lock.__aenter__()
    except Exception as error:
        logger.warning("cachekit_native: the backend lock of %s failed, computing without it: %s", state.name, error)
        return await compute()
    outcome: BaseException | None = None
    try:
        if not entered:
            logger.warning("cachekit_native: no backend lock for a key of %s within %ss, checking the cache",
                           state.name, LOCK_WAIT_SECONDS)
        try:
            document = await read()
        except CachekitError:
            document = None
        if document is not None:
            try:
                return state.unpack(document), document
            except Exception:
                pass  # undecodable: compute
        try:
            return await compute()
        except BaseException as error:
            outcome = error
            raise
    finally:
        try:
            await lock.__aexit__(type(outcome) if outcome else None, outcome, outcome.__traceback__ if outcome else None)
        except Exception as error:
            if outcome is None:
                logger.warning("cachekit_native: releasing the backend lock of %s failed: %s", state.name, error)
