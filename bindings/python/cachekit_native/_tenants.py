"""Multi-tenant encryption (``tenant_extractor``), as cachekit-py 0.24.1 does it: each call's
tenant comes from ``extractor.extract(args, kwargs)`` and names the encryption tenant of its
entry (the library's per-tenant key derivation and AAD); keys and the Redis prefix stay the
single-tenant ones, so an entry another tenant wrote at the same key does not decrypt for this
caller (a miss: the call computes and stores its own). One library cache per tenant, each with
its own L1 (a tenant is never served another's copy), the 256 most recent kept (cachekit-py's
bound on its per-tenant encryption wrappers). A call whose tenant cannot be extracted runs
uncached, as in cachekit-py (its read is skipped, its store fails).

Tenants are UUIDs (cachekit-py's extractors check that); the library derives keys from the
canonical lowercase form, while cachekit-py uses the string as the extractor returned it, so a
non-canonical one would write entries cachekit-py cannot read: such a call runs uncached too.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from typing import Any, Callable

from .cache import Cache
from .errors import CacheClosedError

logger = logging.getLogger("cachekit_native")

MAX_TENANT_CACHES = 256


class TenantCaches:
    def __init__(self, name: str, extractor: Any, open_cache: Callable[[str], Cache]):
        self.name = name
        self.extractor = extractor
        self.open_cache = open_cache
        self.lock = threading.Lock()
        self.caches: OrderedDict[str, Cache] = OrderedDict()
        self.retired: dict[str, int] = {}  # counters of tenant caches closed since, so totals never drop

    def tenant(self, args: tuple, kwargs: dict) -> str | None:
        """The call's tenant, or None (the call then runs uncached)."""
        try:
            tenant = self.extractor.extract(args, kwargs)
            canonical = str(uuid.UUID(tenant))
        except Exception as error:
            logger.warning("cachekit_native: no tenant for a call to %s, running it uncached: %s",
                           self.name, type(error).__name__)
            return None
        if tenant != canonical:
            logger.warning("cachekit_native: the tenant of a call to %s is not a lowercase hyphenated UUID, "
                           "running it uncached (cachekit-py derives keys from the string as written)", self.name)
            return None
        return tenant

    def cache(self, tenant: str) -> Cache:
        with self.lock:
            cache = self.caches.get(tenant)
            if cache is not None and not cache.closed:
                self.caches.move_to_end(tenant)
                return cache
        cache = self.open_cache(tenant)  # outside the lock: it may wait on Redis
        with self.lock:
            kept = self.caches.get(tenant)
            if kept is not None and not kept.closed:
                cache.close()
                return kept
            self.caches[tenant] = cache
            evicted = self.caches.popitem(last=False)[1] if len(self.caches) > MAX_TENANT_CACHES else None
        if evicted is not None:
            self._retire([evicted])
        return cache

    def _retire(self, caches: list[Cache]) -> None:
        for cache in caches:
            counts = _stats(cache)
            with self.lock:
                for name, value in counts.items():
                    self.retired[name] = self.retired.get(name, 0) + value
            cache.close()  # safe with calls in flight: freed when the last one leaves

    def view(self, base: Cache) -> "AllTenants":
        return AllTenants(base, self)

    def stats(self) -> dict[str, int]:
        """Every tenant's counters, the closed ones' included."""
        with self.lock:
            total, caches = dict(self.retired), list(self.caches.values())
        for cache in caches:
            for name, value in _stats(cache).items():
                total[name] = total.get(name, 0) + value
        return total

    def all(self) -> list[Cache]:
        with self.lock:
            return list(self.caches.values())

    def close_all(self) -> None:
        """Closes every tenant's cache (their L1 copies go with them); reopened on the next call."""
        with self.lock:
            caches, self.caches = list(self.caches.values()), OrderedDict()
        self._retire(caches)

    def forget_after_fork(self) -> list[Cache]:
        """The inherited caches, for the caller to keep unfreed; the child opens its own."""
        caches, self.caches, self.lock = list(self.caches.values()), OrderedDict(), threading.Lock()
        self.retired = {}
        return caches


class AllTenants:
    """A multi-tenant function's counters as one cache's (what cache_info() reads): the function's
    own cache and every tenant's."""

    def __init__(self, base: Cache, tenants: TenantCaches):
        self.base, self.tenants = base, tenants

    def stats(self) -> dict[str, int]:
        total = self.tenants.stats()
        for name, value in self.base.stats().items():
            total[name] = total.get(name, 0) + value
        return total


def _stats(cache: Cache) -> dict[str, int]:
    try:
        return cache.stats()
    except CacheClosedError:
        return {}
