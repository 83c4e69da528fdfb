"""Refresh-ahead for the decorator (the library's ``refresh_ahead`` option, docs/cache.md).

A hit on an entry older than refresh_ahead of its TTL returns at once; the library answers
"due" to the first caller in the process (cachekit_cache_refresh_due), which recomputes in the
background under one attempt at the fill lock (held elsewhere: another process fills or
refreshes, so skip) and stores the new value. Sync functions run on a small thread pool of this
module's (a new one in a forked child), coroutines as tasks on the caller's loop with their
library calls on the workers. A refresh that fails is logged and the old value stays until its
TTL.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import _fill_lock
from ._workers import submit as _submit
from .errors import CacheClosedError, CachekitError

logger = logging.getLogger("cachekit_native")

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()
_tasks: set[asyncio.Task] = set()  # running refresh tasks, held so they are not collected


def _executor() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked child has none of the parent's threads
            _pool, _pool_pid = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cachekit-refresh"), os.getpid()
        return _pool


def _due(cache, key: bytes) -> bool:
    try:
        return cache.refresh_due(key)
    except (CachekitError, CacheClosedError):
        return False


def _failed(state, error: BaseException) -> None:
    logger.warning("cachekit_native: refreshing a value of %s failed; the old one stays until its TTL: %s",
                   state.name, error)


def copy_arguments(state, args: tuple, kwargs: dict, doing: str = "refreshing ahead") -> tuple[tuple, dict] | None:
    """A deep copy of the call's arguments, as cachekit-py takes one: a background recompute runs
    later and must not see what the caller changes meanwhile. None (skipped, the value stays)
    when they cannot be copied."""
    try:
        return copy.deepcopy((args, kwargs))
    except Exception as error:  # an argument that refuses deepcopy
        logger.debug("cachekit_native: not %s %s: its arguments cannot be copied: %s", doing, state.name, error)
        return None


class InFlight:
    """One decorated function's background recomputations: at most ``cap`` at a time and, for a
    key given, one per key; a forked child starts with none (its parent's never end there)."""

    def __init__(self, cap: int):
        self.cap = cap
        self.lock = threading.Lock()
        self.count = 0
        self.keys: set[bytes] = set()
        self.pid = os.getpid()

    def claim(self, key: bytes | None = None) -> bool:
        with self.lock:
            if self.pid != os.getpid():
                self.count, self.keys, self.pid = 0, set(), os.getpid()
            if self.count >= self.cap or (key is not None and key in self.keys):
                return False
            self.count += 1
            if key is not None:
                self.keys.add(key)
            return True

    def release(self, key: bytes | None = None) -> None:
        with self.lock:
            if self.pid != os.getpid() or self.count == 0:
                return  # claimed before a fork: not this process's
            self.count -= 1
            if key is not None:
                self.keys.discard(key)


# cachekit-py's cap on one decorated function's refreshes in flight (admitted, queued or
# running): past it the stale value is served, the refresh handed back, and a later hit retries.
MAX_REFRESHES_IN_FLIGHT = 32


def _admit(state, cache, key: bytes) -> bool:
    """Takes one of the function's refresh slots, or hands the refresh back to the library."""
    if state.refreshes.claim():
        return True
    try:
        cache.refresh_release(key)
    except (CachekitError, CacheClosedError):
        pass
    return False


def _leave(state) -> None:
    state.refreshes.release()


def after_hit_sync(state, cache, key: bytes, args: tuple, kwargs: dict) -> None:
    if _due(cache, key):
        snapshot = copy_arguments(state, args, kwargs)
        if snapshot is not None and _admit(state, cache, key):
            try:
                _executor().submit(_refresh_sync, state, cache, key, *snapshot)
            except RuntimeError:  # the pool is shutting down at exit
                _leave(state)


def _refresh_sync(state, cache, key: bytes, args: tuple, kwargs: dict) -> None:
    try:
        token = uuid.uuid4().hex
        if not _fill_lock.attempt(cache, key, token):
            return
        try:
            state.store(cache, key, state.func(*args, **kwargs))
        except Exception as error:
            _failed(state, error)
        finally:
            _fill_lock.release(cache, key, token)
    finally:
        _leave(state)


def after_hit_async(state, cache, key: bytes, args: tuple, kwargs: dict) -> None:
    if _due(cache, key):  # no network: answered on the loop
        snapshot = copy_arguments(state, args, kwargs)
        if snapshot is None or not _admit(state, cache, key):
            return
        task = asyncio.get_running_loop().create_task(_refresh_async(state, cache, key, *snapshot))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
        task.add_done_callback(lambda _: _leave(state))  # also for a task cancelled before it ran


async def _refresh_async(state, cache, key: bytes, args: tuple, kwargs: dict) -> None:
    token = uuid.uuid4().hex
    if not await _submit(_fill_lock.attempt, cache, key, token):
        return
    try:
        result = await state.func(*args, **kwargs)
        await _submit(state.store, cache, key, result)
    except Exception as error:
        _failed(state, error)
    finally:
        await asyncio.shield(_submit(_fill_lock.release, cache, key, token))
