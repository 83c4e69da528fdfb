"""cachekit_native: cachekit-py's @cache over libcachekit (ctypes), sharing entries with cachekit-py.

    from cachekit_native import cache

    @cache(ttl=300, namespace="users")
    def get_user(user_id: int) -> dict: ...

    @cache.secure(master_key=os.environ["CACHEKIT_MASTER_KEY"])
    async def get_profile(user_id: int) -> dict: ...

The library is found through CACHEKIT_LIBRARY_PATH, a copy inside this package, pkg-config or
the system loader (see _loader.py); it must be the version this package was written for.
"""

from ._version import __version__
from .cache import TTL_DEFAULT, TTL_NONE, Cache
from .config import (BackpressureConfig, CircuitBreakerConfig, DecoratorConfig, EncryptionConfig, L1CacheConfig,
                     MonitoringConfig)
from .decorator import CacheInfo, InvalidationOutcome, cache
from .errors import (CacheClosedError, CachekitError, CachekitNativeError, ConfigurationError, InteropError, LibraryNotFoundError,
                     SerializationError)


def library_path() -> str:
    """The path of the loaded libcachekit (loads it if needed)."""
    from . import _ffi
    return _ffi.library().path


def library_version() -> str:
    """The loaded libcachekit's version string."""
    from . import _ffi
    return _ffi.library().version_string()


__all__ = ["BackpressureConfig", "CircuitBreakerConfig", "DecoratorConfig", "EncryptionConfig", "L1CacheConfig",
           "MonitoringConfig", "Cache", "CacheClosedError", "CacheInfo", "CachekitError", "CachekitNativeError", "ConfigurationError", "InteropError",
           "InvalidationOutcome", "LibraryNotFoundError", "SerializationError", "TTL_DEFAULT", "TTL_NONE",
           "__version__", "cache", "library_path", "library_version"]
