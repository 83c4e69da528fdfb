"""invalidate_cache() and cache_clear(): removing one entry or every entry of a function.

One entry is deleted by its key; every entry by the namespace sweep where the key layout allows
one, then through cachekit-py's key registry (every key either SDK recorded) or, without one,
the keys this process stored. After a Redis change succeeded, other processes are told to drop
their L1 copies on cachekit-py's invalidation channel.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING

from .cache import Cache
from .errors import CachekitError

if TYPE_CHECKING:
    from ._function import CachedFunction

logger = logging.getLogger("cachekit_native")


class InvalidationOutcome(enum.Enum):
    """What one exact-key invalidate_cache(*args) did in L2, as cachekit-py reports it."""
    SUCCEEDED = "succeeded"  # the Redis delete returned normally
    FAILED = "failed"        # the Redis delete failed (logged); the entry may still be in Redis
    NO_L2 = "no_l2"          # there is no Redis to delete from (L1 only)


def invalidate(function: CachedFunction, args: tuple, kwargs: dict) -> InvalidationOutcome | None:
    """One entry (its outcome in L2), or with no arguments every entry of the function (None)."""
    cache = function.open()
    if not args and not kwargs and function.has_parameters:
        invalidate_all(function, cache)
        return None
    key = function.key(args, kwargs)
    if key is None:
        return InvalidationOutcome.FAILED
    function.tracked.pop(key, None)
    deleted = function.safe_delete(cache, key)
    for tenant_cache in function.tenants.all() if function.tenants is not None else ():
        function.safe_delete(tenant_cache, key)  # each tenant's L1 copy
    if not function.settings.has_l2:
        return InvalidationOutcome.NO_L2
    if deleted and function.settings.uses_registry:
        publish(function, cache, key)
    return InvalidationOutcome.SUCCEEDED if deleted else InvalidationOutcome.FAILED


def publish(function: CachedFunction, cache: Cache, key: bytes | None) -> None:
    """Tells cachekit-py processes to drop their L1 copies (after the Redis change succeeded)."""
    try:
        cache.publish_invalidation(function.registry_id, key)
    except CachekitError as error:
        logger.warning("cachekit_native: announcing an invalidation of %s failed; other processes keep their "
                       "L1 copies until the L1 TTL: %s", function.name, error)


def invalidate_all(function: CachedFunction, cache: Cache) -> None:
    if function.tenants is not None:
        function.tenants.close_all()  # every tenant's L1 goes with its cache; Redis below
    # Entries written by any process: the namespace sweep, where the key layout allows one.
    sweep = sweep_namespace(function)
    if sweep is not None:
        try:
            cache.invalidate_namespace(sweep)
        except CachekitError as error:
            logger.error("cachekit_native: invalidating %s failed: %s", function.name, error)
    mine = list(function.tracked)
    if function.settings.uses_registry:
        # Every key any process (either SDK) recorded, then this process's own keys.
        try:
            cache.drain_registry(function.registry_id, mine)
        except CachekitError as error:
            logger.warning("cachekit_native: key registry drain of %s failed, invalidating local keys only: %s",
                           function.name, error)
        else:
            for key in mine:
                function.tracked.pop(key, None)  # keys stored while the drain ran stay for the next one
            publish(function, cache, None)
            return
    # Entries this process wrote.
    for key in mine:
        function.safe_delete(cache, key)
        function.tracked.pop(key, None)


def sweep_namespace(function: CachedFunction) -> str | None:
    """The namespace argument of cachekit_cache_invalidate_namespace that covers exactly this
    function's keys: auto keys "ns:{namespace}:func:{id}:args:...", interop "{ns}:{op}:...".
    None on a backend object, which cannot list its keys (as cachekit-py, only local keys go)."""
    if function.settings.host_backend is not None:
        return None
    if function.settings.interop is not None:
        return function.builder.prefix[:-1]
    if function.settings.namespace and not function.builder.needs_normalizing:
        return function.builder.prefix[len("ns:"):-1]
    return None
