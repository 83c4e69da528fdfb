"""cachekit-py's distributed fill lock on the binding's own miss paths.

C hosts get the lock inside cachekit_cache_get_or_compute; the decorator computes in Python (an
async function cannot run inside a C callback), so it takes the same lock through
cachekit_cache_fill_lock_try / _release: ``<key>:lock`` with a uuid4().hex token, SET NX PX,
retried every poll_ms until the next try would land past wait_ms (redis-py's rule), the value
read from Redis before every retry, compare-and-delete on release. The protocol is written once,
as a generator of steps; ``run_sync`` drives it with blocking calls, ``run_async`` with worker
threads and ``asyncio.sleep``, so a waiter never pins a worker thread while it waits.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Awaitable, Callable, Generator

from .errors import CacheClosedError, CachekitError

# What the protocol ends with: ("document", bytes another process stored) or ("result", compute()).
Outcome = tuple[str, Any]


def _protocol(poll: float, wait: float) -> Generator[str, Any, Outcome]:
    """The steps of one fill: "try" (answered True, False, or None when Redis failed), "sleep",
    "read" (the stored document or None), "compute" (its result) and "release"."""
    held = yield "try"
    if held is None:  # the lock is best effort, as cachekit-py's: compute without it
        return "result", (yield "compute")
    if not held:
        deadline = time.monotonic() + wait
        while time.monotonic() + poll <= deadline:
            yield "sleep"
            document = yield "read"
            if document is not None:
                return "document", document
            held = yield "try"
            if held is not False:
                break
        if not held:  # the wait ran out (or Redis failed): read once more, then compute anyway
            document = yield "read"
            if document is not None:
                return "document", document
            return "result", (yield "compute")
    try:
        document = yield "read"  # a holder may have stored and released just before our grant
        if document is not None:
            return "document", document
        return "result", (yield "compute")
    finally:
        yield "release"


def _settings(cache) -> tuple[float, float] | None:
    """(poll, wait) in seconds when the lock applies to this cache, else None."""
    settings = getattr(cache, "_fill_lock_settings", False)
    if settings is False:
        try:
            found = cache.fill_lock_settings()
        except CacheClosedError:
            return None
        settings = (found.poll_ms / 1000, found.wait_ms / 1000) if found.applies else None
        cache._fill_lock_settings = settings
    return settings


def attempt(cache, key: bytes, token: str) -> bool | None:
    """One try at the lock: True held (or no lock applies), False held elsewhere, None on a failure."""
    try:
        return cache.fill_lock_try(key, token)
    except (CachekitError, CacheClosedError):
        return None


def read(cache, key: bytes) -> bytes | None:
    """The fill's read of Redis (cachekit_cache_fill_lock_read: not counted as another miss); a
    cache closed under the call reads as a miss."""
    try:
        return cache.fill_lock_read(key)
    except CacheClosedError:
        return None


def release(cache, key: bytes, token: str) -> None:
    try:
        cache.fill_lock_release(key, token)
    except (CachekitError, CacheClosedError):
        pass  # the lock lives until its PX


class _Fill:
    """One fill's run of the protocol: the step to perform next, answered with ``reply`` or
    ``error`` (a failure is thrown into the protocol, so a held lock is released first)."""

    def __init__(self, poll: float, wait: float):
        self.poll = poll
        self.token = uuid.uuid4().hex
        self.steps = _protocol(poll, wait)
        self.reply: Any = None
        self.error: BaseException | None = None
        self.outcome: Outcome | None = None

    @classmethod
    def start(cls, cache) -> "_Fill | None":
        settings = _settings(cache)
        return None if settings is None else cls(*settings)

    def next(self) -> str | None:
        """The next step, or None once the protocol has ended (its outcome in ``outcome``)."""
        reply, error = self.reply, self.error
        self.reply, self.error = None, None
        try:
            return self.steps.throw(error) if error is not None else self.steps.send(reply)
        except StopIteration as done:
            self.outcome = done.value
            return None


def run_sync(cache, key: bytes, read: Callable[[], bytes | None], compute: Callable[[], Any]) -> Outcome:
    fill = _Fill.start(cache)
    if fill is None:
        return "result", compute()
    while (step := fill.next()) is not None:
        try:
            if step == "try":
                fill.reply = attempt(cache, key, fill.token)
            elif step == "sleep":
                time.sleep(fill.poll)
            elif step == "read":
                fill.reply = read()
            elif step == "compute":
                fill.reply = compute()
            else:
                release(cache, key, fill.token)
        except BaseException as failure:
            fill.error = failure
    return fill.outcome


async def run_async(cache, key: bytes, submit: Callable[..., Awaitable[Any]],
                    read: Callable[[], Awaitable[bytes | None]], compute: Callable[[], Awaitable[Any]]) -> Outcome:
    fill = _Fill.start(cache)
    if fill is None:
        return "result", await compute()
    while (step := fill.next()) is not None:
        try:
            if step == "try":
                fill.reply = await submit(attempt, cache, key, fill.token)
            elif step == "sleep":
                await asyncio.sleep(fill.poll)
            elif step == "read":
                fill.reply = await read()
            elif step == "compute":
                fill.reply = await compute()
            else:
                await asyncio.shield(submit(release, cache, key, fill.token))
        except BaseException as failure:
            fill.error = failure
    return fill.outcome
