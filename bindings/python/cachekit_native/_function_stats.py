"""One statistics tracker per function, as cachekit-py keeps them (decorators/wrapper.py's
``_function_stats_registry``): keyed by ``module.qualname`` and held for the life of the process,
so a function decorated again (a factory re-making its wrapper, other options included) goes on
counting where it was, every wrapper of it reports the same ``cache_info()``, and
``cache_clear()`` on any of them restarts them all. A forked child starts again at zero under a
session id of its own, as cachekit-py's does.

The counts are the library's: each live decoration's cache counters since the last clear, plus
those of decorations already gone (taken when their cache closes or their state is collected).
"""

from __future__ import annotations

import os
import threading
import uuid
import weakref
from typing import Any

from .errors import CachekitError

_trackers: dict[str, "FunctionStats"] = {}
_trackers_lock = threading.Lock()
_session = str(uuid.uuid4())


def session() -> str:
    """This process's session UUID (a forked child mints its own)."""
    return _session


class Decoration:
    """One decoration's share of its function's counts: its open cache (None before the first
    call and after close) and that cache's counters at the last clear."""
    __slots__ = ("cache", "baseline", "state", "__weakref__")

    def __init__(self, state: Any):
        self.cache = None
        self.baseline: dict[str, int] = {}
        self.state = weakref.ref(state)


def _since_baseline(decoration: Decoration) -> dict[str, int]:
    if decoration.cache is None:
        return {}
    try:
        stats = decoration.cache.stats()
    except CachekitError:  # closed under us: what it counted is gone with it
        return {}
    return {name: value - decoration.baseline.get(name, 0) for name, value in stats.items()}


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for name, value in more.items():
        total[name] = total.get(name, 0) + value


class FunctionStats:
    """The counts of every decoration of one function. Thread-safe."""

    def __init__(self, identifier: str):
        self.identifier = identifier
        # Reentrant: a collection inside a locked section may run _leave on this thread.
        self.lock = threading.RLock()
        self.decorations: list[Decoration] = []
        self.retired: dict[str, int] = {}  # gone decorations' counts since the last clear
        self.clear_count = 0

    def join(self, state: Any) -> Decoration:
        decoration = Decoration(state)
        with self.lock:
            self.decorations.append(decoration)
        weakref.finalize(state, self._leave, decoration).atexit = False  # nothing to keep at exit
        return decoration

    def attach(self, decoration: Decoration, cache: Any) -> None:
        """The decoration opened `cache`: it counts from zero."""
        with self.lock:
            self._retire(decoration)
            decoration.cache = cache

    def detach(self, decoration: Decoration) -> None:
        """The decoration's cache is about to close: its counts are kept."""
        with self.lock:
            self._retire(decoration)

    def _retire(self, decoration: Decoration) -> None:
        _add(self.retired, _since_baseline(decoration))
        decoration.cache = None
        decoration.baseline = {}

    def _leave(self, decoration: Decoration) -> None:
        with self.lock:
            self._retire(decoration)
            if decoration in self.decorations:
                self.decorations.remove(decoration)

    def totals(self) -> dict[str, int]:
        with self.lock:
            total = dict(self.retired)
            for decoration in list(self.decorations):
                _add(total, _since_baseline(decoration))
            return total

    def last_operation_at(self) -> float | None:
        with self.lock:
            states = [decoration.state() for decoration in list(self.decorations)]
        times = [state.last_operation_at for state in states if state is not None and state.last_operation_at is not None]
        return max(times, default=None)

    def clear(self) -> None:
        with self.lock:
            self.retired = {}
            self.clear_count += 1
            for decoration in list(self.decorations):
                decoration.baseline = {}
                decoration.baseline = _since_baseline(decoration)  # its counters now
                state = decoration.state()
                if state is not None:
                    state.last_operation_at = None

    def reset_for_new_process(self) -> None:
        # The child is single-threaded here: the lock is replaced, never taken (a parent thread
        # may have held it at fork). The inherited caches are kept alive by _function.py.
        self.lock = threading.RLock()
        self.retired = {}
        self.clear_count = 0
        for decoration in self.decorations:
            decoration.cache = None
            decoration.baseline = {}
            state = decoration.state()
            if state is not None:
                state.last_operation_at = None


def tracker(identifier: str) -> FunctionStats:
    """The function's tracker, made on its first decoration."""
    with _trackers_lock:
        found = _trackers.get(identifier)
        if found is None:
            found = _trackers[identifier] = FunctionStats(identifier)
        return found


def _reset_after_fork() -> None:
    global _trackers_lock, _session
    _trackers_lock = threading.Lock()
    _session = str(uuid.uuid4())
    for found in _trackers.values():
        found.reset_for_new_process()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
