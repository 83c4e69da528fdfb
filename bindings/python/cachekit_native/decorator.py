"""``@cache``: cachekit-py's decorator over a libcachekit cache.

The same keys (keys.py), the same stored bytes (serializer.py for the MessagePack document, the
library for the envelope, the CK frame and encryption) and the same Redis layout as cachekit
0.24.1, so a function cached by one is a hit for the other. Each decorated function owns one
library cache, created on its first call from the environment (CACHEKIT_REDIS_URL / REDIS_URL,
CACHEKIT_MASTER_KEY, CACHEKIT_DEPLOYMENT_UUID, ...) and the decorator's options, on the process's
shared Redis client for those settings; its statistics (``cache_info()``) are the library's
counters, kept per module.qualname across re-decoration as cachekit-py's (_function_stats.py).

The jobs live in their own modules: _settings.py resolves the options, _function.py holds
the per-function state with its sync and async paths, _invalidation.py removes entries.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar

from . import _invalidation
from . import _local as _local_module
from . import observability
from ._function import CacheInfo, CachedFunction, async_wrapper, sync_wrapper, track_live
from ._invalidation import InvalidationOutcome
from ._settings import Settings
from ._workers import submit as _submit
from .config import FIELD_NAMES, DecoratorConfig, flatten
from .errors import ConfigurationError

__all__ = ["CacheInfo", "ConfigurationError", "InvalidationOutcome", "cache"]

F = TypeVar("F", bound=Callable[..., Any])


def _wrap(func: F, settings: Settings) -> F:
    state = CachedFunction(func, settings)
    track_live(state)

    if inspect.iscoroutinefunction(func):
        async def ainvalidate_cache(*args: Any, **kwargs: Any) -> InvalidationOutcome | None:
            return await _submit(_invalidation.invalidate, state, args, kwargs)

        wrapper: Any = async_wrapper(state)
        wrapper.invalidate_cache = ainvalidate_cache
        wrapper.ainvalidate_cache = ainvalidate_cache
    else:
        def invalidate_cache(*args: Any, **kwargs: Any) -> InvalidationOutcome | None:
            return _invalidation.invalidate(state, args, kwargs)

        wrapper = sync_wrapper(state)
        wrapper.invalidate_cache = invalidate_cache

    def cache_clear() -> None:
        """Invalidates every entry of the function and restarts its statistics."""
        if inspect.iscoroutinefunction(func) and state.settings.has_l2:
            # As cachekit-py: this would block the event loop on Redis.
            raise TypeError("cache_clear() cannot clear cache for async functions with a backend. "
                            "Use 'await fn.ainvalidate_cache()' instead.")
        state.clear()

    # cachekit-py's health calls on the decorated function (an async function's check_health is
    # a coroutine there too); both PING Redis.
    if inspect.iscoroutinefunction(func):
        async def acheck_health() -> dict[str, Any]:
            return await _submit(lambda: observability.check_health(state.open()))

        wrapper.check_health = acheck_health
    else:
        wrapper.check_health = lambda: observability.check_health(state.open())
    wrapper.get_health_status = lambda: observability.get_health_status(state.open())
    wrapper.cache_info = state.info
    wrapper.cache_stats = state.stats
    wrapper.cache_clear = cache_clear
    wrapper.cache_close = state.close
    wrapper.__wrapped__ = func
    wrapper._cachekit_native = state
    return wrapper


def _make(intent: str | None, preset: Callable[..., DecoratorConfig] | None = None):
    def decorator_factory(func: F | None = None, /, *, config: DecoratorConfig | None = None, **options: Any):
        if config is not None and intent == "secure":
            raise ConfigurationError("@cache.secure() does not accept config= — DecoratorConfig.secure() already is "
                                     "the secure config. For the RORO form use @cache(config=DecoratorConfig.secure(...)).")
        if preset is not None:
            if config is not None:
                raise ConfigurationError(f"@{decorator_factory.__name__}() does not accept config=; pass its options directly")
            config = preset(**{name: options.pop(name) for name in list(options) if name in FIELD_NAMES})
        settings = Settings(intent, flatten(config, options))

        def decorate(f: F) -> F:
            if not callable(f):
                raise TypeError(f"@cache expects a function, got {type(f).__name__}")
            return _wrap(f, settings)

        return decorate if func is None else decorate(func)

    decorator_factory.__name__ = f"cache.{intent or (preset.__name__ if preset else '')}".rstrip(".")
    return decorator_factory


def _io(func: Any = None, /, **options: Any):
    """``@cache.io``: cachekit-py's cachekit.io SaaS backend, which cannot be reached from here."""
    DecoratorConfig.io()


def _local(func: F | None = None, /, *, config: Any = None, **options: Any):
    """``@cache.local``: the function's own objects in this process (see _local.py)."""
    if config is not None:
        raise TypeError("@cache.local() does not accept config=. DecoratorConfig configures backends, serialization "
                        "and encryption, none of which apply to in-process reference caching. Pass parameters "
                        "directly: @cache.local(ttl=300, max_entries=256)")
    _local_module.check_options(options)

    def decorate(f: F) -> F:
        if not callable(f):
            raise TypeError(f"@cache.local expects a function, got {type(f).__name__}")
        return _local_module.local_wrapper(f, options)

    return decorate if func is None else decorate(func)


cache = _make(None)
cache.minimal = _make("minimal")
cache.production = _make("production")
cache.secure = _make("secure")
cache.dev = _make(None, DecoratorConfig.dev)
cache.test = _make(None, DecoratorConfig.test)
cache.io = _io
cache.local = _local
