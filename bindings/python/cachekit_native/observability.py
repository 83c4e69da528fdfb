"""Metrics, health and logs of the caches this process holds (docs/observability.md).

- ``CachekitCollector``: a prometheus_client collector exporting every live cache's series
  (cachekit-py's names, labels and buckets, plus libcachekit's ``cachekit_*``), summed across
  caches that share a namespace, so ``prometheus_client.generate_latest()`` shows them.
  prometheus_client is imported only when the collector is used: no hard dependency.
- ``check_health`` / ``get_health_status``: cachekit-py's decorator-level shapes.
- ``route_logs``: the library's log events into ``logging`` (logger ``cachekit_native``).
  Opt-in, because every routed event takes the GIL for a Python call.
"""
from __future__ import annotations

import ctypes
import json
import logging
import threading
import time
import weakref
from typing import Any, Iterable

from . import _ffi

_live: "weakref.WeakSet[Any]" = weakref.WeakSet()
_live_lock = threading.Lock()

LOGGER_NAME = "cachekit_native"


def track(cache: Any) -> None:
    """Counts a Cache among the live caches the collector exports (Cache.__init__ calls this)."""
    with _live_lock:
        _live.add(cache)


def live_caches() -> list[Any]:
    with _live_lock:
        return [cache for cache in list(_live) if not cache.closed]


# -- Prometheus ------------------------------------------------------------------------------


def _merge(texts: Iterable[str]) -> list[Any]:
    """Parses each exposition with prometheus_client's parser and sums samples with the same name
    and labels (counters, buckets, sums and counts add up; so do the gauges, which count entries,
    bytes, connections and live breakers). A series with a ``client`` label is a Redis client's,
    which caches with the same settings share: it is counted once, however many caches report it."""
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.samples import Sample

    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple, float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type)
                values[family.name] = {}
            series = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if "client" in sample.labels and key in series:
                    continue
                series[key] = series.get(key, 0.0) + sample.value
    for name, merged in families.items():
        merged.samples = [Sample(sample_name, dict(labels), value) for (sample_name, labels), value in values[name].items()]
    return list(families.values())


class CachekitCollector:
    """Exports the series of every live ``cachekit_native.Cache`` at each scrape."""

    def collect(self):
        texts = []
        for cache in live_caches():
            try:
                texts.append(cache.metrics_text())
            except Exception:  # a cache closed during the scrape exports nothing
                continue
        return _merge(texts)

    def describe(self):
        # No names up front: the series come and go with the caches, and describing them would
        # make the registry call every cache at registration.
        return []


_collector: CachekitCollector | None = None


def register_collector(registry: Any = None) -> CachekitCollector:
    """Registers one CachekitCollector with ``registry`` (default: prometheus_client's REGISTRY)
    and returns it; a second call returns the first collector."""
    global _collector
    from prometheus_client import REGISTRY

    with _live_lock:
        if _collector is None:
            _collector = CachekitCollector()
            (registry or REGISTRY).register(_collector)
        return _collector


# -- health ----------------------------------------------------------------------------------


def get_health_status(cache: Any) -> dict[str, Any]:
    """cachekit-py's FeatureOrchestrator.get_health_status() shape over cachekit_cache_health_v2:
    namespace, overall_healthy, healthy, components (l1, l2 with its breaker, pool and nodes,
    listener) and circuit_breaker (None without one)."""
    report = cache.health_report()
    components = report["components"]
    breaker = _breaker_stats(components.get("l2", {}).get("circuit_breaker"), report["namespace"])
    if breaker is not None:
        components["circuit_breaker"] = breaker  # cachekit-py lists it among the components too
    backpressure = components.get("l2", {}).get("backpressure")
    if backpressure is not None:  # cachekit-py's name and its healthy rule (queue under 80% full)
        components["load_control"] = {"queue_depth": backpressure["queue_depth"],
                                      "rejected_count": backpressure["rejected_count"],
                                      "max_concurrent": backpressure["max_concurrent"],
                                      "queue_size": backpressure["queue_size"],
                                      "healthy": backpressure["queue_depth"] < backpressure["queue_size"] * 0.8}
    # cachekit-py's metrics collector get_stats() shape. The library counts each operation on
    # the caller's thread as it happens ("sync" in cachekit-py's terms): nothing queued or dropped.
    counted = cache.stats()
    operations = counted["hits"] + counted["misses"] + counted["sets"] + counted["deletes"]
    uptime = max(time.time() - getattr(cache, "opened_at", time.time()), 0.0)
    components["metrics"] = {"mode": "sync", "total_operations": operations, "dropped_metrics": 0,
                             "uptime_seconds": uptime, "ops_per_second": operations / uptime if uptime > 0 else 0,
                             "auto_detect_enabled": False, "pool_size": 0}
    return {
        "namespace": report["namespace"],
        "overall_healthy": report["healthy"],
        "healthy": report["healthy"],
        "components": components,
        "circuit_breaker": breaker,
    }


def _breaker_stats(breaker: dict[str, Any] | None, namespace: str) -> dict[str, Any] | None:
    """The library's breaker report with cachekit-py's CircuitBreaker.get_stats() fields added:
    last_failure_time as time.time() of the last failure (0.0 before any), namespace, config."""
    if breaker is None:
        return None
    stats = dict(breaker)
    age_ms = stats.pop("last_failure_age_ms", None)
    stats["last_failure_time"] = time.time() - age_ms / 1000.0 if age_ms is not None else 0.0
    stats["namespace"] = namespace
    limits = stats.pop("config", None) or {}
    stats["config"] = {"failure_threshold": limits.get("failure_threshold"),
                       "success_threshold": limits.get("success_threshold"),
                       "timeout_seconds": limits["timeout_ms"] / 1000.0 if "timeout_ms" in limits else None,
                       "half_open_requests": limits.get("half_open_requests")}
    return stats


def check_health(cache: Any) -> dict[str, Any]:
    """cachekit-py's check_health() shape: status ("healthy"/"unhealthy"), namespace, components."""
    full = get_health_status(cache)
    return {"status": "healthy" if full["healthy"] else "unhealthy", "namespace": full["namespace"],
            "components": full["components"]}


# -- logs ------------------------------------------------------------------------------------


def _deliver(userdata, level, event, fields, count):
    # Called from any thread the library runs on; an exception must never cross into C.
    try:
        name = event.decode("utf-8", "replace")
        items = {fields[i].name.decode("utf-8", "replace"): fields[i].value.decode("utf-8", "replace")
                 for i in range(count)}
        logger = logging.getLogger(LOGGER_NAME)
        if logger.isEnabledFor(level):
            text = " ".join(f"{key}={value}" for key, value in items.items())
            logger.log(level, "%s %s", name, text, extra={"cachekit_event": name, "cachekit_fields": items})
    except Exception:
        pass


_handler = _ffi.LogFunction(_deliver)  # kept alive for as long as the library may call it


def route_logs(level: int | None = None) -> None:
    """Routes the library's events at ``level`` and above (default: the ``cachekit_native``
    logger's effective level) to that logger, with ``extra`` fields ``cachekit_event`` and
    ``cachekit_fields``. Call again after changing the logger's level."""
    if level is None:
        level = logging.getLogger(LOGGER_NAME).getEffectiveLevel()
    level = min(max(int(level), logging.DEBUG), logging.ERROR)
    level = max(lvl for lvl in (10, 20, 30, 40) if lvl <= level)
    _ffi.library().cachekit_set_log_handler(_handler, None, level)


def stop_routing_logs() -> None:
    """Removes the handler: when this returns no event is being delivered or will be."""
    _ffi.library().cachekit_set_log_handler(ctypes.cast(None, _ffi.LogFunction), None, logging.DEBUG)
