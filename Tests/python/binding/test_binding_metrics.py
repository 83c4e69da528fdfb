"""cachekit_cache_metrics_text against real operations on a private redis-server, read by real
parsers: prometheus_client's text-format parser (0.0.4) and Debian's promtool. Counts match the
operations by tier, histogram buckets are cumulative with _count equal to the operations, the
bucket bounds are cachekit-py 0.24.1's own, and no label holds a key, a value or a credential."""
import re
import shutil
import subprocess

import pytest
from cachekit.reliability.async_metrics import DURATION_BUCKETS_MS, SIZE_BUCKETS_BYTES
from prometheus_client.parser import text_string_to_metric_families

from support.redis_server import free_port

from cachekit_native import Cache

VALUE = b"\xaaVALUE-9f3e"  # a MessagePack str: the cache stores documents
KEY = "user-key-4c1d:{}"
MASTER_KEY = "7f" * 32


def parse(text):
    """{sample name: {frozenset(labels): value}} from the strict parse; families by name too."""
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {}
    for family in families.values():
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return families, samples


def value(samples, name, **labels):
    return samples[name][frozenset(labels.items())]


def histogram(samples, name, **labels):
    """(bounds, cumulative counts, count, sum) of one histogram series."""
    buckets = [(dict(key)["le"], count) for key, count in samples[f"{name}_bucket"].items()
               if {k: v for k, v in dict(key).items() if k != "le"} == labels]
    finite = sorted(((float(le), count) for le, count in buckets if le != "+Inf"))
    infinite = [count for le, count in buckets if le == "+Inf"]
    assert len(infinite) == 1
    return ([b for b, _ in finite], [c for _, c in finite] + infinite,
            value(samples, f"{name}_count", **labels), value(samples, f"{name}_sum", **labels))


def check_cumulative(bounds, counts, count, expected_bounds):
    assert bounds == [float(b) for b in expected_bounds]
    assert all(a <= b for a, b in zip(counts, counts[1:])), counts
    assert counts[-1] == count


def test_counts_and_histograms_match_the_operations(redis_url):
    writer = Cache(from_env=False, redis_url=redis_url, metrics_namespace="orders")
    reader = Cache(from_env=False, redis_url=redis_url, metrics_namespace="orders-l2", l1_max_size_mb=0)
    try:
        sets, l1_gets, l2_gets, misses = 40, 150, 25, 7
        for i in range(sets):
            writer.set(KEY.format(i), VALUE, ttl=60)
        for i in range(l1_gets):
            assert writer.get(KEY.format(i % sets)) == VALUE
        for i in range(l2_gets):
            assert reader.get(KEY.format(i)) == VALUE
        for i in range(misses):
            assert writer.get(f"absent-{i}") is None

        families, s = parse(writer.metrics_text())
        ns = "orders"
        assert families["cache_operations"].type == "counter"
        assert value(s, "cache_operations_total", operation="get", namespace=ns, success="True", serializer="l1_memory") == l1_gets
        assert value(s, "cache_operations_total", operation="set", namespace=ns, success="True", serializer="rust") == sets
        assert value(s, "cache_operations_total", operation="get", namespace=ns, success="True", serializer="rust") == 0
        assert value(s, "cache_operations_total", operation="set", namespace=ns, success="False", serializer="unknown") == 0
        assert value(s, "cachekit_cache_hits_total", namespace=ns, tier="l1") == l1_gets
        assert value(s, "cachekit_cache_misses_total", namespace=ns) == misses
        assert value(s, "cachekit_cache_sets_total", namespace=ns) == sets
        assert value(s, "cachekit_l1_entries", namespace=ns) == sets
        assert value(s, "circuit_breaker_state", namespace=ns, state="CLOSED") == 1
        assert value(s, "circuit_breaker_state", namespace=ns, state="OPEN") == 0

        bounds, counts, count, total = histogram(s, "cache_operation_duration_ms", operation="set", namespace=ns, serializer="rust")
        check_cumulative(bounds, counts, count, DURATION_BUCKETS_MS)
        assert count == sets and total > 0
        # L1 hits are timed 1 in 64, per thread stripe: at most every hit, at least one.
        bounds, counts, count, _ = histogram(s, "cache_operation_duration_ms", operation="get", namespace=ns, serializer="l1_memory")
        check_cumulative(bounds, counts, count, DURATION_BUCKETS_MS)
        assert 1 <= count <= l1_gets
        bounds, counts, count, total = histogram(s, "cache_operation_size_bytes", operation="get", namespace=ns, serializer="l1_memory")
        check_cumulative(bounds, counts, count, SIZE_BUCKETS_BYTES)
        assert total == count * len(VALUE)
        # Every Redis round trip (the sets, the misses' GET+PTTL) is in the round-trip histogram.
        bounds, counts, count, _ = histogram(s, "cachekit_l2_round_trip_seconds", namespace=ns)
        check_cumulative(bounds, counts, count, [b / 1000 for b in DURATION_BUCKETS_MS])
        assert count == sets + misses

        _, s = parse(reader.metrics_text())
        ns = "orders-l2"
        assert value(s, "cache_operations_total", operation="get", namespace=ns, success="True", serializer="rust") == l2_gets
        assert value(s, "cache_operations_total", operation="get", namespace=ns, success="True", serializer="l1_memory") == 0
        bounds, counts, count, _ = histogram(s, "cache_operation_duration_ms", operation="get", namespace=ns, serializer="rust")
        check_cumulative(bounds, counts, count, DURATION_BUCKETS_MS)
        assert count == l2_gets
        bounds, counts, count, total = histogram(s, "cache_operation_size_bytes", operation="get", namespace=ns, serializer="rust")
        assert count == l2_gets and total == l2_gets * len(VALUE)
    finally:
        writer.close()
        reader.close()


def test_redis_failures_count_as_unsuccessful_operations():
    """A Redis that is not there: every set and get is cachekit-py's success="False", and none
    is timed as a success."""
    cache = Cache(from_env=False, redis_url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout_ms=200,
                  metrics_namespace="down")
    try:
        for i in range(5):
            cache.set(KEY.format(i), VALUE)
        for i in range(3):
            cache.get(f"absent-{i}")
        _, s = parse(cache.metrics_text())
        assert value(s, "cache_operations_total", operation="set", namespace="down", success="False", serializer="unknown") == 5
        assert value(s, "cache_operations_total", operation="set", namespace="down", success="True", serializer="rust") == 0
        assert value(s, "cache_operations_total", operation="get", namespace="down", success="False", serializer="unknown") == 3
        assert value(s, "cache_operation_duration_ms_count", operation="set", namespace="down", serializer="rust") == 0
        assert value(s, "cachekit_cache_fail_open_total", namespace="down") == 8
    finally:
        cache.close()


def test_no_label_carries_a_key_a_value_or_a_credential(redis_server):
    """Secure mode with a master key, a URL with a password, distinctive keys and values: none of
    them appears anywhere in the exposition or the health report."""
    password = "pw-5ecr3t-77"
    url = f"redis://user1:{password}@127.0.0.1:{free_port()}/0"
    secrets = [password, "user1:", MASTER_KEY, "user-key-4c1d", "VALUE-9f3e"]
    caches = [
        Cache(from_env=False, redis_url=redis_server.url, mode="secure", master_key=MASTER_KEY, metrics_namespace="sec"),
        Cache(from_env=False, redis_url=url, connect_timeout_ms=200, metrics_namespace="auth"),
    ]
    try:
        for cache in caches:
            for i in range(5):
                cache.set(KEY.format(i), VALUE)
                cache.get(KEY.format(i))
            texts = [cache.metrics_text(), str(cache.health_report())]
            for text in texts:
                for secret in secrets:
                    assert secret not in text
            families, _ = parse(texts[0])
            for family in families.values():
                for sample in family.samples:
                    for label in sample.labels.values():
                        assert re.fullmatch(r"[A-Za-z0-9_.+\-]+", label), (sample.name, label)
    finally:
        for cache in caches:
            cache.close()


PROMTOOL_CONFLICTS = {
    # cachekit-py's histogram name: Prometheus's lint wants base units (seconds), cachekit-py
    # exports milliseconds, and the shared dashboards query that name.
    "cache_operation_duration_ms metric names should not contain abbreviated units",
}


def test_promtool_check_metrics(redis_url):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not installed (Debian package prometheus; scripts/install-deps.sh installs it)")
    cache = Cache(from_env=False, redis_url=redis_url, invalidation_listener="on")
    try:
        cache.set("k", VALUE)
        cache.get("k")
        result = subprocess.run([promtool, "check", "metrics"], input=cache.metrics_text(), text=True,
                                capture_output=True, timeout=60)
    finally:
        cache.close()
    # 0: clean; 3: lint findings only (a parse error is 1).
    assert result.returncode in (0, 3), result.stdout + result.stderr
    findings = {line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip()}
    assert findings <= PROMTOOL_CONFLICTS, findings - PROMTOOL_CONFLICTS


def test_decrypt_failures_are_counted_in_cachekit_pys_series_and_by_cause(redis_url):
    import redis as redis_client
    writer = Cache(from_env=False, redis_url=redis_url, mode="secure", master_key=MASTER_KEY)
    reader = Cache(from_env=False, redis_url=redis_url, mode="secure", master_key="5a" * 32, l1_max_size_mb=0,
                   metrics_namespace="other-key")
    try:
        writer.set("wrong-key", VALUE, ttl=60)
        writer.set("tampered", VALUE, ttl=60)
        client = redis_client.Redis.from_url(redis_url)
        stored = bytearray(client.get("t:default:tampered"))
        stored[-3] ^= 0x01  # inside the ciphertext: the GCM tag no longer verifies
        client.set("t:default:tampered", bytes(stored))
        assert reader.get("wrong-key") is None
        _, samples = parse(reader.metrics_text())
        assert value(samples, "cachekit_decrypt_failures_total", namespace="other-key", reason="auth_tamper", tier="l2") == 1
        by_cause = {dict(k)["cause"]: v for k, v in samples["cachekit_decrypt_failure_causes_total"].items()
                    if dict(k)["tier"] == "l2"}
        assert sum(by_cause.values()) == 1
        fresh = Cache(from_env=False, redis_url=redis_url, mode="secure", master_key=MASTER_KEY, l1_max_size_mb=0,
                      metrics_namespace="tampered")
        try:
            assert fresh.get("tampered") is None
            _, samples = parse(fresh.metrics_text())
            assert value(samples, "cachekit_decrypt_failures_total", namespace="tampered", reason="auth_tamper", tier="l2") == 1
            assert value(samples, "cachekit_decrypt_failure_causes_total", namespace="tampered", cause="tampered", tier="l2") == 1
            assert value(samples, "cachekit_fill_lock_waits_total", namespace="tampered") == 0
        finally:
            fresh.close()
    finally:
        writer.close()
        reader.close()
