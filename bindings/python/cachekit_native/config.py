"""cachekit-py's public configuration classes, with its names, fields, defaults and checks
(cachekit 0.24.1 ``config/nested.py`` and ``config/decorator.py``), for ``@cache(config=...)``
and the nested ``l1=``, ``circuit_breaker=``, ``backpressure=``, ``monitoring=`` and
``encryption=`` options. ``to_options()`` turns a config into the decorator's flat options,
which the library carries out (its L1, breaker, backpressure, fill lock and refresh-ahead).

What cannot exist here is refused with cachekit-py's ``ConfigurationError`` saying why: the
cachekit.io SaaS backend (``DecoratorConfig.io``; ``stale_ttl`` needs an SWR-capable backend
object instead).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from . import _host_backend, serializers
from .errors import ConfigurationError

__all__ = ["BackpressureConfig", "CircuitBreakerConfig", "DecoratorConfig", "EncryptionConfig", "L1CacheConfig",
           "MonitoringConfig"]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class L1CacheConfig:
    """The in-process tier. ``swr_*``: a hit past ``swr_threshold_ratio`` of the TTL returns at
    once and the function runs again in the background (the library's refresh-ahead)."""
    enabled: bool = True
    max_size_mb: int | None = None
    swr_enabled: bool = True
    swr_threshold_ratio: float = 0.5
    swr_retry_interval: float = 10.0

    def validate(self) -> None:
        if self.max_size_mb is not None and self.max_size_mb < 1:
            raise ConfigurationError(f"L1 max_size_mb must be >= 1, got {self.max_size_mb}")
        if not 0.0 < self.swr_threshold_ratio <= 1.0:
            raise ConfigurationError(f"L1 swr_threshold_ratio must be in (0.0, 1.0], got {self.swr_threshold_ratio}")
        if not self.swr_retry_interval >= 0:  # NaN too
            raise ConfigurationError(f"L1 swr_retry_interval must be >= 0, got {self.swr_retry_interval}")


@dataclass(frozen=True)
class CircuitBreakerConfig:
    """The Redis client's breaker (the library's, with cachekit-py's defaults)."""
    enabled: bool = True
    failure_threshold: int = 5
    success_threshold: int = 3
    recovery_timeout: float = 30.0
    half_open_requests: int = 3

    def validate(self) -> None:
        for name in ("failure_threshold", "success_threshold", "half_open_requests"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.half_open_requests < self.success_threshold:
            raise ConfigurationError(f"half_open_requests ({self.half_open_requests}) must be >= success_threshold "
                                     f"({self.success_threshold}): a half-open cycle could never close")
        if not math.isfinite(self.recovery_timeout) or self.recovery_timeout <= 0:
            raise ConfigurationError(f"recovery_timeout must be a finite number > 0, got {self.recovery_timeout!r}")


@dataclass(frozen=True)
class BackpressureConfig:
    """How many Redis operations may be in flight and queued before more are shed."""
    enabled: bool = True
    max_concurrent_requests: int = 100
    queue_size: int = 1000
    timeout: float = 0.1

    def validate(self) -> None:
        if self.max_concurrent_requests < 1:
            raise ConfigurationError(f"max_concurrent_requests must be >= 1, got {self.max_concurrent_requests}")


@dataclass(frozen=True)
class MonitoringConfig:
    """Accepted with cachekit-py's fields; the library always keeps its counters, and exports
    them through ``cachekit_native.observability`` (docs/observability.md)."""
    collect_stats: bool = True
    enable_structured_logging: bool = True
    enable_prometheus_metrics: bool = True

    def validate(self) -> None:
        pass


@dataclass(frozen=True)
class EncryptionConfig:
    """Client-side AES-256-GCM: single-tenant (the deployment UUID or "default" names the tenant)
    or multi-tenant (``tenant_extractor.extract(args, kwargs)`` names each call's, _tenants.py)."""
    enabled: bool | None = None
    master_key: str | None = field(default=None, repr=False)
    tenant_extractor: Any = None
    single_tenant_mode: bool = False
    deployment_uuid: str | None = None
    fail_closed: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.master_key, (bytes, bytearray)):
            raise ConfigurationError("master_key must be a hex string, not bytes (as cachekit-py requires)")

    def validate(self) -> None:
        if self.enabled and not (self.master_key or os.environ.get("CACHEKIT_MASTER_KEY")):
            raise ConfigurationError("encryption.enabled=True requires encryption.master_key. "
                                     "Set CACHEKIT_MASTER_KEY environment variable or pass master_key parameter.")
        if self.enabled and not self.tenant_extractor and not self.single_tenant_mode:
            raise ConfigurationError("Encryption requires explicit tenant mode. Provide tenant_extractor for "
                                     "multi-tenant OR set single_tenant_mode=True for single-tenant.")
        if self.enabled and self.tenant_extractor and self.single_tenant_mode:
            raise ConfigurationError("Cannot use both tenant_extractor and single_tenant_mode. Choose multi-tenant "
                                     "(tenant_extractor) OR single-tenant (single_tenant_mode=True).")


@dataclass(frozen=True)
class DecoratorConfig:
    """Everything ``@cache(config=...)`` takes, as cachekit-py's DecoratorConfig."""
    ttl: int | None = None
    stale_ttl: int | None = None
    swr_by_default: bool = False
    namespace: str | None = None
    serializer: Any = "default"
    integrity_checking: bool = True
    key: Callable[..., str] | None = None
    interop: str | None = None
    refresh_ttl_on_get: bool = False
    ttl_refresh_threshold: float = 0.5
    backend: Any = UNSET
    l1: L1CacheConfig = field(default_factory=L1CacheConfig)
    circuit_breaker: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)
    backpressure: BackpressureConfig = field(default_factory=BackpressureConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    encryption: EncryptionConfig = field(default_factory=EncryptionConfig)

    def __post_init__(self) -> None:
        if self.ttl is not None:
            if not math.isfinite(self.ttl):
                raise ValueError(f"ttl must be a finite number, got {self.ttl!r}")
            if self.ttl < 0:
                raise ValueError(f"ttl must be non-negative, got {self.ttl}")
        if not 0.0 <= self.ttl_refresh_threshold <= 1.0:
            raise ConfigurationError(f"ttl_refresh_threshold must be 0.0-1.0, got {self.ttl_refresh_threshold}")
        if not isinstance(self.integrity_checking, bool):
            raise ConfigurationError(f"integrity_checking must be a bool, got {type(self.integrity_checking).__name__}")
        if isinstance(self.encryption, bool):
            object.__setattr__(self, "encryption", EncryptionConfig(enabled=self.encryption))
        for name, kind in (("l1", L1CacheConfig), ("circuit_breaker", CircuitBreakerConfig),
                           ("backpressure", BackpressureConfig), ("monitoring", MonitoringConfig),
                           ("encryption", EncryptionConfig)):
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise TypeError(f"{name} must be a cachekit_native.config.{kind.__name__}, got {type(value).__name__}")
            value.validate()
        # The serializer is checked where cachekit-py checks it: when the decorator is applied.

    # -- presets, as cachekit-py's (ttl and protections) ------------------------------------

    @classmethod
    def minimal(cls, **kwargs: Any) -> DecoratorConfig:
        return cls(**({"ttl": 300, "integrity_checking": False, "l1": L1CacheConfig(swr_enabled=False),
                       "circuit_breaker": CircuitBreakerConfig(enabled=False),
                       "monitoring": MonitoringConfig(collect_stats=False, enable_structured_logging=False,
                                                      enable_prometheus_metrics=False)} | kwargs))

    @classmethod
    def production(cls, **kwargs: Any) -> DecoratorConfig:
        return cls(**({"ttl": 600, "integrity_checking": True} | kwargs))

    @classmethod
    def secure(cls, master_key: str | None = None, tenant_extractor: Any = None, **kwargs: Any) -> DecoratorConfig:
        tenant_extractor = tenant_extractor or None
        single_tenant_mode = kwargs.pop("single_tenant_mode", None)  # as cachekit-py: else from the extractor
        encryption = EncryptionConfig(enabled=True, master_key=master_key, tenant_extractor=tenant_extractor,
                                      single_tenant_mode=tenant_extractor is None if single_tenant_mode is None
                                      else single_tenant_mode,
                                      deployment_uuid=kwargs.pop("deployment_uuid", None),
                                      fail_closed=kwargs.pop("fail_closed", None))
        return cls(**({"ttl": 600, "integrity_checking": True, "encryption": encryption} | kwargs))

    @classmethod
    def dev(cls, **kwargs: Any) -> DecoratorConfig:
        return cls(**({"ttl": 300, "integrity_checking": True,
                       "monitoring": MonitoringConfig(enable_prometheus_metrics=False)} | kwargs))

    @classmethod
    def test(cls, **kwargs: Any) -> DecoratorConfig:
        return cls(**({"ttl": 300, "integrity_checking": False, "l1": L1CacheConfig(swr_enabled=False),
                       "circuit_breaker": CircuitBreakerConfig(enabled=False),
                       "backpressure": BackpressureConfig(enabled=False),
                       "monitoring": MonitoringConfig(collect_stats=False, enable_structured_logging=False,
                                                      enable_prometheus_metrics=False)} | kwargs))

    @classmethod
    def io(cls, api_key: str | None = None, **kwargs: Any) -> DecoratorConfig:
        raise ConfigurationError("the cachekit.io SaaS backend (@cache.io, DecoratorConfig.io) is not available in "
                                 "cachekit_native: it caches in Redis; use @cache or @cache.production with a redis_url")

    def to_dict(self) -> dict[str, object]:
        """cachekit-py's flattened view, for display (lossy: an omitted backend and backend=None
        both show None; the master key shows as "[REDACTED]")."""
        return {"ttl": self.ttl, "namespace": self.namespace, "serializer": self.serializer, "key": self.key,
                "refresh_ttl_on_get": self.refresh_ttl_on_get, "ttl_refresh_threshold": self.ttl_refresh_threshold,
                "backend": None if self.backend is UNSET else self.backend,
                "l1_enabled": self.l1.enabled, "l1_max_size_mb": self.l1.max_size_mb,
                "circuit_breaker": self.circuit_breaker.enabled,
                "failure_threshold": self.circuit_breaker.failure_threshold,
                "success_threshold": self.circuit_breaker.success_threshold,
                "recovery_timeout": self.circuit_breaker.recovery_timeout,
                "half_open_requests": self.circuit_breaker.half_open_requests,
                "backpressure": self.backpressure.enabled,
                "max_concurrent_requests": self.backpressure.max_concurrent_requests,
                "queue_size": self.backpressure.queue_size, "backpressure_timeout": self.backpressure.timeout,
                "collect_stats": self.monitoring.collect_stats,
                "enable_structured_logging": self.monitoring.enable_structured_logging,
                "enable_prometheus_metrics": self.monitoring.enable_prometheus_metrics,
                "encryption": self.encryption.enabled,
                "master_key": "[REDACTED]" if self.encryption.master_key else None,
                "tenant_extractor": self.encryption.tenant_extractor}

    # -- the decorator's flat options ------------------------------------------------------

    def to_options(self) -> dict[str, Any]:
        """The decorator options this config means (the library's names)."""
        options: dict[str, Any] = {"ttl": self.ttl, "namespace": self.namespace,
                                   "integrity_checking": self.integrity_checking,
                                   "refresh_ttl_on_get": self.refresh_ttl_on_get,
                                   "ttl_refresh_threshold": self.ttl_refresh_threshold}
        if self.key is not None:
            options["key"] = self.key
        if not serializers.is_default(self.serializer):
            options["serializer"] = self.serializer
        if self.stale_ttl is not None:
            options["stale_ttl"] = self.stale_ttl
        if self.interop is not None:
            options["interop"] = self.interop
        if self.backend is not UNSET:
            options["backend"] = self.backend
        options.update(_l1_options(self.l1, self.ttl))
        options.update(_breaker_options(self.circuit_breaker))
        options.update(_backpressure_options(self.backpressure))
        options.update(_encryption_options(self.encryption))
        return options


def _l1_options(l1: L1CacheConfig, ttl: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {"l1_enabled": l1.enabled}
    if l1.max_size_mb is not None:
        options["l1_max_size_mb"] = l1.max_size_mb
    if l1.enabled and l1.swr_enabled and ttl:
        options["refresh_ahead"] = l1.swr_threshold_ratio  # SWR needs a ttl, as in cachekit-py
    return options


def _breaker_options(breaker: CircuitBreakerConfig) -> dict[str, Any]:
    if not breaker.enabled:
        return {"circuit_breaker": 0}
    return {"circuit_breaker": 1, "failure_threshold": breaker.failure_threshold,
            "success_threshold": breaker.success_threshold, "half_open_requests": breaker.half_open_requests,
            "recovery_timeout_ms": max(1, round(breaker.recovery_timeout * 1000))}


def _backpressure_options(backpressure: BackpressureConfig) -> dict[str, Any]:
    if not backpressure.enabled:
        return {"backpressure": 0}
    return {"backpressure": 1, "max_concurrent_requests": backpressure.max_concurrent_requests,
            "queue_size": backpressure.queue_size,
            "backpressure_timeout_ms": max(0, round(backpressure.timeout * 1000))}


def _encryption_options(encryption: EncryptionConfig) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if encryption.enabled is not None:
        options["encryption"] = encryption.enabled
    if encryption.master_key is not None:
        options["master_key"] = encryption.master_key
    if encryption.deployment_uuid is not None:
        options["deployment_uuid"] = encryption.deployment_uuid
    if encryption.fail_closed is not None:
        options["encryption_fail_closed"] = encryption.fail_closed
    if encryption.tenant_extractor is not None:
        options["tenant_extractor"] = encryption.tenant_extractor
    return options


NESTED = {"l1": (L1CacheConfig, lambda value, ttl: _l1_options(value, ttl)),
          "circuit_breaker": (CircuitBreakerConfig, lambda value, ttl: _breaker_options(value)),
          "backpressure": (BackpressureConfig, lambda value, ttl: _backpressure_options(value)),
          "monitoring": (MonitoringConfig, lambda value, ttl: {}),
          "encryption": (EncryptionConfig, lambda value, ttl: _encryption_options(value))}
FIELD_NAMES = frozenset(f.name for f in fields(DecoratorConfig))


def flatten(config: DecoratorConfig | None, options: dict[str, Any]) -> dict[str, Any]:
    """The decorator's flat options from ``config=`` and the keywords beside it (which win), with
    nested config objects (``l1=L1CacheConfig(...)`` and the rest) expanded."""
    if config is not None and not isinstance(config, DecoratorConfig):
        raise TypeError(f"config parameter must be DecoratorConfig instance, got {type(config).__name__}. "
                        "Use DecoratorConfig.minimal(), .production(), .secure(), .dev(), or .test()")
    flat = config.to_options() if config is not None else {}
    ttl = options.get("ttl", flat.get("ttl"))
    for name, value in options.items():
        nested = NESTED.get(name)
        if nested is not None and isinstance(value, nested[0]):
            value.validate()
            flat.update(nested[1](value, ttl))
        elif name == "serializer":
            flat[name] = value  # checked by Settings, which knows whether the cache is L1-only
        elif name == "monitoring":
            continue  # accepted: the library's counters are always kept
        else:
            flat[name] = value
    swr_by_default = flat.pop("swr_by_default", False) or bool(config is not None and config.swr_by_default)
    window = _stale_window(flat.pop("stale_ttl", None), flat.get("ttl"), flat.get("backend"), swr_by_default)
    if window is not None:
        flat["stale_ttl"] = window
    return flat


_MAX_TOTAL_TTL = 2_592_000  # cachekit-py's 30-day bound on ttl + stale_ttl


def _stale_window(stale_ttl: Any, ttl: Any, backend: Any, swr_by_default: bool) -> int | None:
    """The SWR window each entry is stored with, as cachekit-py resolves it at decoration, with its
    checks and messages in its order: a window > 0 needs an SWR-capable backend object (one whose
    class has get_with_freshness); swr_by_default (DecoratorConfig.io's) makes it the ttl, capped
    so ttl + window stays within 30 days."""
    capable = backend is not None and _host_backend.supports_swr(backend)
    if stale_ttl is None:
        if swr_by_default and isinstance(ttl, (int, float)) and ttl > 0 and capable:
            wire_ttl = math.ceil(ttl)
            window = min(wire_ttl, _MAX_TOTAL_TTL - wire_ttl)
            return window if window > 0 else None
        return None
    if isinstance(stale_ttl, bool) or not isinstance(stale_ttl, int) or stale_ttl < 0:
        raise ConfigurationError(f"stale_ttl must be a non-negative integer, got {stale_ttl!r}")
    if stale_ttl == 0:
        return None  # the explicit opt-out
    if ttl is None or ttl <= 0:
        raise ConfigurationError("stale_ttl requires a positive ttl (the stale window starts where freshness ends)")
    if ttl + stale_ttl > _MAX_TOTAL_TTL:
        raise ConfigurationError(f"ttl + stale_ttl must not exceed {_MAX_TOTAL_TTL} seconds (30-day storage cap)")
    if not capable:
        raise ConfigurationError("stale_ttl requires an SWR-capable backend (CachekitIO) known at decoration time. "
                                 "Other backends have no read-side freshness signal — remove stale_ttl, switch to "
                                 "@cache.io, or pass backend=CachekitIOBackend() explicitly.")
    return stale_ttl
