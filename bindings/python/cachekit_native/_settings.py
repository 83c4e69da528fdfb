"""The decorator's options, resolved once at decoration time into the library cache's options.

Presets and refusals follow cachekit 0.24.1: ``@cache.secure`` always encrypts, a master key in
the environment demands a stated encryption intent, interop mode needs a shared backend, and the
namespace ``ck`` is reserved for the key registry.
"""

from __future__ import annotations

import os
from typing import Any

from . import _host_backend, serializers
from .cache import TTL_NONE, Cache
from .errors import ConfigurationError

_UNSET: Any = object()

# Presets as cachekit 0.24.1 defines them: (mode, default ttl).
_PRESETS = {
    None: ("plain", None),
    "minimal": ("minimal", 300),
    "production": ("plain", 600),
    "secure": ("secure", 600),
}

_OPTIONS = frozenset({"ttl", "namespace", "backend", "redis_url", "interop", "master_key", "integrity_checking",
                      "l1_enabled", "encryption", "deployment_uuid", "l1_max_size_mb", "l1_max_entries",
                      "max_value_size", "connect_timeout_ms", "command_timeout_ms", "previous_master_keys",
                      "stale_ttl", "tenant_extractor", "single_tenant_mode"})
# The library's coherence options (docs/cache.md), passed through as they are named there;
# refresh_ttl_on_get, ttl_refresh_threshold and encryption_fail_closed are cachekit-py's names too.
_COHERENCE_OPTIONS = frozenset({"fill_lock", "fill_lock_timeout_ms", "fill_lock_wait_ms", "fill_lock_poll_ms",
                                "refresh_ttl_on_get", "ttl_refresh_threshold", "encryption_fail_closed",
                                "refresh_ahead"})
# The Redis client's breaker and backpressure (what CircuitBreakerConfig / BackpressureConfig become).
_CLIENT_OPTIONS = frozenset({"circuit_breaker", "failure_threshold", "success_threshold", "half_open_requests",
                             "recovery_timeout_ms", "backpressure", "max_concurrent_requests", "queue_size",
                             "backpressure_timeout_ms"})
_OPTIONS = _OPTIONS | _COHERENCE_OPTIONS | _CLIENT_OPTIONS | {"key", "serializer"}


class Settings:
    """Everything resolved at decoration time."""

    def __init__(self, intent: str | None, options: dict[str, Any]):
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ConfigurationError(f"@cache{'.' + intent if intent else ''} does not accept "
                                     f"{', '.join(sorted(unknown))}")
        mode, ttl = _PRESETS[intent]
        encryption = options.get("encryption")
        if encryption not in (None, True, False):
            raise ConfigurationError(f"encryption must be True, False or None, got {encryption!r}")
        if intent == "secure" and encryption is False:
            raise ConfigurationError("@cache.secure always encrypts: encryption=False is refused")
        if encryption is True and mode != "secure":
            if mode == "minimal":
                raise ConfigurationError("@cache.minimal has integrity checking off, which encryption does not allow")
            if options.get("interop") is None:
                mode = "secure"
        # cachekit-py refuses to guess: with a master key in the environment, a cache must say
        # whether it encrypts (encryption=False keeps plaintext).
        if mode != "secure" and encryption is None and options.get("interop") is None \
                and options.get("backend", _UNSET) is not None and os.environ.get("CACHEKIT_MASTER_KEY"):
            raise ConfigurationError("A master key is present (CACHEKIT_MASTER_KEY) but this cache states no "
                                     "encryption intent: pass encryption=False for plaintext, or use "
                                     "@cache.secure / encryption=True to encrypt")
        integrity = options.get("integrity_checking", _UNSET)
        if integrity is not _UNSET:
            if mode == "secure" and not integrity:
                raise ConfigurationError("encrypted caching keeps integrity checking on: integrity_checking=False "
                                         "is refused with @cache.secure")
            if mode in ("plain", "minimal"):
                mode = "plain" if integrity else "minimal"
        self.ttl = options.get("ttl", ttl)
        if self.ttl is not None and (isinstance(self.ttl, bool) or not isinstance(self.ttl, int) or self.ttl < 0):
            raise ConfigurationError(f"ttl must be a non-negative int (seconds) or None, got {self.ttl!r}")
        self.namespace = options.get("namespace")
        if isinstance(self.namespace, str):
            self.namespace = str.__str__(self.namespace)  # cachekit-py rebinds str subclasses too
        # cachekit-py reserves it: a key under it could take a tracking set's name.
        if self.namespace == "ck" or (self.namespace or "").startswith("ck:"):
            raise ConfigurationError("namespace 'ck' (and 'ck:*') is reserved for cachekit's key registry")
        self.interop = options.get("interop")
        self.master_key = options.get("master_key")
        if isinstance(self.master_key, (bytes, bytearray)):
            raise ConfigurationError("master_key must be a hex string, not bytes (as cachekit-py requires)")
        if self.master_key is not None and mode != "secure" and self.interop is None:
            raise ConfigurationError("master_key is only used by @cache.secure (or interop mode)")
        # Interop entries are encrypted exactly when a master key is in force (the library's rule).
        self.encrypted = mode == "secure" or (self.interop is not None
                                              and (self.master_key is not None or encryption is True))
        if self.encrypted and not (self.master_key or os.environ.get("CACHEKIT_MASTER_KEY")):
            raise ValueError("cache.secure requires master_key parameter or CACHEKIT_MASTER_KEY environment variable")
        if self.interop is not None and not self.encrypted and os.environ.get("CACHEKIT_MASTER_KEY"):
            raise ConfigurationError("CACHEKIT_MASTER_KEY is set, so interop entries would be encrypted: use "
                                     "@cache.secure(interop=...) to say so, or unset it for plaintext interop")
        backend = options.get("backend", _UNSET)
        # A backend object: cachekit-py's RedisBackend is the library's Redis client on its URL;
        # any other object is the second tier itself, through callbacks (_host_backend.py).
        self.host_backend = None
        # cachekit-py hands a backend object (its RedisBackend too) bare keys, and keeps no key
        # registry for it: only its per-request tenant backend prefixes and tracks.
        self.backend_object = backend is not _UNSET and backend is not None
        # The SWR window a capable backend object stores with each entry (config.py resolved it).
        self.stale_ttl: int | None = options.get("stale_ttl")
        if backend is not _UNSET and backend is not None:
            if _host_backend.is_redis_backend(backend):
                options = {**options, "redis_url": options.get("redis_url") or backend._redis_url}
            else:
                self.host_backend = backend
        self.l1_only = backend is None
        if self.l1_only and self.encrypted:
            raise ConfigurationError("encryption requires a backend: backend=None (L1-only) would hold "
                                     "values only in this process")
        if self.interop is not None:
            if self.l1_only:
                raise ConfigurationError("interop mode requires a shared backend (backend=None is L1-only)")
            mode = "interop"
        self.mode = mode
        # Multi-tenant encryption (_tenants.py): cachekit-py's rules.
        self.tenant_extractor = options.get("tenant_extractor") or None
        if self.tenant_extractor is not None:
            if options.get("single_tenant_mode"):
                raise ConfigurationError("Cannot use both tenant_extractor and single_tenant_mode. Choose multi-tenant "
                                         "(tenant_extractor) OR single-tenant (single_tenant_mode=True).")
            if mode == "interop":
                raise ConfigurationError(
                    "interop mode does not support tenant_extractor (multi-tenant) encryption: interop entries store "
                    "no metadata header, so the read path cannot recover a per-call tenant. Use single_tenant_mode=True "
                    "instead: the tenant is the protocol literal 'default', so the same master key is enough across "
                    "SDKs. To scope keys to a deployment, set the same canonical deployment_uuid in every SDK.")
            if not self.encrypted:
                self.tenant_extractor = None  # it only selects encryption keys
        self.redis_url = options.get("redis_url")
        self.cache_options = {
            "mode": mode,
            # cachekit-py's Redis prefix is its backend tenant, "default" for single-tenant use; the
            # deployment UUID only names the encryption tenant. Stated here, not left to the
            # library default, because the decorator's keys must match cachekit-py's exactly.
            "key_prefix": "t:default:",
            "master_key": self.master_key,
            # Decrypt-only keys for rotation: the decorator's own, else cachekit-py's variable.
            "previous_master_keys": options.get("previous_master_keys",
                                                os.environ.get("CACHEKIT_PREVIOUS_MASTER_KEYS") or None),
            "deployment_uuid": options.get("deployment_uuid"),
            "l1_max_size_mb": options.get("l1_max_size_mb"),
            "l1_max_entries": 0 if options.get("l1_enabled", True) is False else options.get("l1_max_entries"),
            "max_value_size": options.get("max_value_size"),
            "connect_timeout_ms": options.get("connect_timeout_ms"),
            "command_timeout_ms": options.get("command_timeout_ms"),
            # cachekit-py writes SETEX for ttl > 0 and SET otherwise: None and 0 both mean no expiry.
            "default_ttl": self.ttl if self.ttl else TTL_NONE,
        }
        self.cache_options.update({name: options[name] for name in _COHERENCE_OPTIONS | _CLIENT_OPTIONS if name in options})
        if self.tenant_extractor is not None:
            self.cache_options["require_tenant_match"] = True  # another tenant's entry is a miss
        self.key_function = options.get("key")
        if self.key_function is not None:
            if not callable(self.key_function):
                raise ConfigurationError(f"key must be a function returning str, got {type(self.key_function).__name__}")
            if self.interop is not None:
                raise ConfigurationError("interop mode derives its own keys: key= is refused (as cachekit-py)")
        self.refreshes_ahead = bool(options.get("refresh_ahead"))
        if mode == "interop":
            self.cache_options["key_prefix"] = ""  # interop keys are bare: every SDK reads the same key
        if self.backend_object:
            self.cache_options["key_prefix"] = ""
        if self.l1_only:
            self.cache_options["redis_url"] = ""
        elif self.redis_url is not None:
            self.cache_options["redis_url"] = self.redis_url
        self.has_l2 = False
        self._resolve_serializer(options.get("serializer", "default"), options)

    def _resolve_serializer(self, serializer: Any, options: dict[str, Any]) -> None:
        """serializer= as cachekit-py resolves it. Entries of a serializer other than the default
        are framed (and sealed) by serializers.py, stored by the library as given. L1-only keeps
        today's path (the library's MessagePack entries in L1), as cachekit-py's L1-only mode
        ignores the serializer for what it holds."""
        self.serializer = serializer
        self.sealing_options: dict[str, Any] | None = None
        serializers.check(serializer, self.l1_only)
        if serializers.is_default(serializer):
            return
        if self.interop is not None:
            if isinstance(serializer, str):
                raise ConfigurationError(f"interop mode requires the default (MessagePack) serializer, got "
                                         f"'{serializer}': interop/v1 values are plain MessagePack by specification.")
            raise ConfigurationError("interop mode does not accept a custom serializer instance: interop/v1 values "
                                     "are canonical plain MessagePack produced by the built-in interop encoder.")
        if self.encrypted:
            serializers.check_encryptable(serializer)
        if self.l1_only:
            self.serializer = "default"
            return
        self.cache_options["verbatim_entries"] = "1"
        if self.encrypted:
            # serializers.py seals with its own keyring; the library stores what it is given.
            self.sealing_options = {name: self.cache_options.pop(name, None) for name in
                                    ("master_key", "previous_master_keys", "deployment_uuid")}
            self.sealing_options["key_prefix"] = self.cache_options["key_prefix"]
            self.cache_options["mode"] = "plain"

    def framed_codec(self) -> serializers.FramedCodec | None:
        """The pack/unpack pair of a serializer other than the default, or None."""
        if serializers.is_default(self.serializer):
            return None
        sealing = None
        if self.sealing_options is not None:
            sealing = serializers.sealing_from(self.sealing_options, self.cache_options.get("encryption_fail_closed"))
        return serializers.FramedCodec(self.serializer, self.mode != "minimal", sealing)

    @property
    def uses_registry(self) -> bool:
        """Whether cachekit-py keeps a key registry for this function: a tenant-scoped Redis
        backend does; a backend object (RedisBackend included), interop mode's bare RedisBackend and
        L1-only do not."""
        return self.has_l2 and self.mode != "interop" and not self.backend_object

    def open(self, tenant: str | None = None) -> Cache:
        # Where the library finds Redis: the option, else the environment (cachekit_config_load_env).
        self.has_l2 = self.host_backend is not None or not self.l1_only and bool(
            self.redis_url if self.redis_url is not None
            else os.environ.get("CACHEKIT_REDIS_URL") or os.environ.get("REDIS_URL"))
        # Metrics and log events are labelled by the decorator's namespace, as cachekit-py's are.
        options = {"metrics_namespace": self.namespace or "default", **self.cache_options}
        if tenant is not None:
            options["deployment_uuid"] = tenant  # the encryption tenant; keys keep their prefix
        host = None if self.host_backend is None else _host_backend.HostBackend(self.host_backend, self.stale_ttl)
        return Cache(from_env=True, host_backend=host, **options)

