"""cachekit_native's observability: the prometheus_client collector shows every live cache's
series in generate_latest(), summed by namespace; check_health/get_health_status have
cachekit-py's shapes; route_logs delivers the library's events to the cachekit_native logger at
the level asked, from several threads, and nothing once stopped."""
import logging
import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from support.redis_server import free_port

from cachekit_native import Cache, observability

VALUE = b"\xa3abc"


def samples_of(text):
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_collector_exports_every_live_cache_summed_by_namespace():
    registry = CollectorRegistry()
    registry.register(observability.CachekitCollector())
    a = Cache(from_env=False, metrics_namespace="shared")
    b = Cache(from_env=False, metrics_namespace="shared")
    c = Cache(from_env=False, metrics_namespace="alone")
    try:
        for cache, hits in ((a, 3), (b, 4), (c, 5)):
            cache.set("k", VALUE)
            for _ in range(hits):
                assert cache.get("k") == VALUE
        samples = samples_of(generate_latest(registry).decode())
        hit = ("cache_operations_total", frozenset({"operation": "get", "success": "True", "serializer": "l1_memory"}.items()))
        assert samples[(hit[0], hit[1] | {("namespace", "shared")})] == 7
        assert samples[(hit[0], hit[1] | {("namespace", "alone")})] == 5
        assert samples[("cachekit_l1_entries", frozenset({("namespace", "shared")}))] == 2
        assert samples[("cache_operation_duration_ms_bucket", frozenset(
            {"operation": "set", "namespace": "shared", "serializer": "rust", "le": "+Inf"}.items()))] == 2
        c.close()
        samples = samples_of(generate_latest(registry).decode())
        assert (hit[0], hit[1] | {("namespace", "alone")}) not in samples  # a closed cache exports nothing
    finally:
        for cache in (a, b, c):
            cache.close()


def test_health_shapes_match_cachekit_py(redis_url):
    with Cache(from_env=False, redis_url=redis_url, metrics_namespace="svc") as cache:
        check = cache.check_health()
        assert set(check) == {"status", "namespace", "components"}
        assert check["status"] == "healthy" and check["namespace"] == "svc"
        full = cache.get_health_status()
        assert set(full) == {"namespace", "overall_healthy", "healthy", "components", "circuit_breaker"}
        assert full["circuit_breaker"]["state"] == "closed"
        assert full["components"]["l2"]["pool"]["size"] >= 1
    with Cache(from_env=False, redis_url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout_ms=200) as cache:
        check = cache.check_health()
        assert check["status"] == "unhealthy"
        assert check["components"]["l2"]["status"] == "unhealthy"


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):  # under the handler's own lock (Handler.handle)
        self.records.append(record)


@pytest.fixture
def captured():
    logger = logging.getLogger(observability.LOGGER_NAME)
    handler = Collect()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    observability.stop_routing_logs()
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_route_logs_delivers_events_from_several_threads_and_stops(captured):
    cache = Cache(from_env=False, metrics_namespace="logs", log_sampling_rate="1.0")
    try:
        observability.route_logs(logging.DEBUG)

        start = threading.Barrier(4)

        def work(n):
            start.wait()
            for i in range(50):
                cache.set(f"secret-user-{n}-{i}", VALUE)
                cache.get(f"secret-user-{n}-{i}")
        threads = [threading.Thread(target=work, args=(n,), name=f"worker-{n}") for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        events = [r.cachekit_event for r in captured.records]
        assert events.count("cache.set") == 200 and events.count("cache.hit") == 200
        assert {r.threadName for r in captured.records} == {f"worker-{n}" for n in range(4)}
        for record in captured.records:
            assert record.levelno == logging.DEBUG
            assert "secret-user" not in record.getMessage() and "abc" not in record.getMessage()
            assert record.cachekit_fields["namespace"] == "logs"
            assert len(record.cachekit_fields["key_hash"]) == 16

        # INFO and up: the same operations log nothing.
        captured.records.clear()
        observability.route_logs(logging.INFO)
        cache.set("k", VALUE)
        cache.get("k")
        assert captured.records == []

        observability.route_logs(logging.DEBUG)
        observability.stop_routing_logs()
        cache.set("k", VALUE)
        cache.get("missing")
        assert captured.records == []
    finally:
        cache.close()


def test_sampling_follows_log_sampling_rate(captured):
    """cachekit-py's log_sampling_rate: 0 drops every DEBUG event (ERROR would still pass)."""
    cache = Cache(from_env=False, log_sampling_rate="0")
    try:
        observability.route_logs(logging.DEBUG)
        for i in range(100):
            cache.set(f"k{i}", VALUE)
        assert captured.records == []
    finally:
        cache.close()


def test_decorated_functions_have_cachekit_pys_health_calls_and_namespace_label(redis_url):
    from cachekit_native import cache

    @cache(ttl=60, namespace="orders", redis_url=redis_url)
    def order(n):
        return {"n": n}

    try:
        assert order(1) == {"n": 1} and order(1) == {"n": 1}
        check = order.check_health()
        assert check["status"] == "healthy" and check["namespace"] == "orders"
        assert set(order.get_health_status()) == {"namespace", "overall_healthy", "healthy", "components", "circuit_breaker"}
        samples = samples_of(order._cachekit_native.cache.metrics_text())
        hit = frozenset({"operation": "get", "namespace": "orders", "success": "True", "serializer": "l1_memory"}.items())
        assert samples[("cache_operations_total", hit)] == 1
    finally:
        order.cache_close()


def _shape(value):
    """Field names all the way down (values differ between the two implementations)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__ if value is None else "value"


def test_get_health_status_components_have_cachekit_pys_fields(redis_url):
    """cachekit-py's get_health_status() with breaker, backpressure and stats on lists the breaker
    (CircuitBreaker.get_stats), load_control (BackpressureController.get_stats) and metrics
    among its components; the same config here gives at least those fields, with its values'
    meaning (a failure-free breaker: last_failure_time 0.0, cachekit-py's initial value)."""
    from support.peer import run_peer

    from cachekit_native import cache
    from cachekit_native.config import BackpressureConfig, CircuitBreakerConfig, DecoratorConfig, MonitoringConfig

    peer = run_peer(redis_url, """
from cachekit.config import DecoratorConfig, CircuitBreakerConfig, BackpressureConfig, MonitoringConfig
@cache(config=DecoratorConfig(ttl=60, namespace="hs", circuit_breaker=CircuitBreakerConfig(enabled=True),
       backpressure=BackpressureConfig(enabled=True, max_concurrent_requests=7, queue_size=9),
       monitoring=MonitoringConfig(collect_stats=True)))
def f(x):
    return x
f(1)
status = f.get_health_status()
out = {name: status["components"][name] for name in ("circuit_breaker", "load_control", "metrics")}
out["top"] = sorted(status)
""")

    @cache(config=DecoratorConfig(ttl=60, namespace="hs", circuit_breaker=CircuitBreakerConfig(enabled=True),
                                  backpressure=BackpressureConfig(enabled=True, max_concurrent_requests=7, queue_size=9),
                                  monitoring=MonitoringConfig(collect_stats=True)), redis_url=redis_url)
    def f(x):
        return x

    try:
        f(1)
        status = f.get_health_status()
        assert sorted(status) == peer["top"]
        components = status["components"]
        for name in ("circuit_breaker", "load_control", "metrics"):
            ours, theirs = _shape(components[name]), _shape(peer[name])
            missing = {key for key in theirs if key not in ours}
            assert not missing, f"{name} lacks cachekit-py's {sorted(missing)}"
        breaker = components["circuit_breaker"]
        assert breaker["last_failure_time"] == 0.0 == peer["circuit_breaker"]["last_failure_time"]
        assert breaker["namespace"] == "hs" and status["circuit_breaker"] == breaker
        assert set(breaker["config"]) == set(peer["circuit_breaker"]["config"])
        assert breaker["config"]["timeout_seconds"] == peer["circuit_breaker"]["config"]["timeout_seconds"]
        assert components["load_control"]["max_concurrent"] == 7 == peer["load_control"]["max_concurrent"]
        # cachekit-py hands only max_concurrent_requests to its controller (its queue stays 1000);
        # the library honours the configured queue_size, and reports it.
        assert components["load_control"]["queue_size"] == 9 and peer["load_control"]["queue_size"] == 1000
        assert components["metrics"]["total_operations"] >= 1
    finally:
        f.cache_close()


def test_breaker_last_failure_time_is_the_wall_clock_of_the_last_failure():
    import time

    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    with Cache(from_env=False, redis_url=unreachable, connect_timeout_ms=100) as cache:
        before = time.time()
        cache.get("k")  # fails open: Redis refuses the connection, the breaker counts it
        breaker = cache.get_health_status()["circuit_breaker"]
        assert breaker["failure_count"] >= 1
        assert before - 1.0 <= breaker["last_failure_time"] <= time.time() + 1.0
