"""cachekit-cli health and stats against a private redis-server: the health report's shape and
exit status, -v sending the library's log events to stderr, and stats counting the invalidation
listeners subscribed now."""
import json
import time

from support.cli import cli
from support.redis_server import free_port

from cachekit_native import Cache

def test_health_of_a_live_redis_is_healthy_with_each_tier(redis_url):
    done = cli("health", "-v", url=redis_url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "healthy" and report["healthy"] is True
    l2 = report["components"]["l2"]
    assert l2["status"] == "healthy" and l2["ping_ms"] > 0
    assert l2["pool"]["size"] >= 1 and l2["pool"]["in_use"] == 0
    assert len(l2["nodes"]) == 1 and "127.0.0.1" in l2["nodes"][0]["url"]
    assert set(report["components"]) == {"l1", "l2", "listener"}
    # -v: the library's events, one per line, on stderr.
    assert "INFO health.report namespace=cachekit-cli status=healthy" in done.stderr

def test_health_of_an_unreachable_redis_is_unhealthy():
    url = f"redis://127.0.0.1:{free_port()}/0"
    done = cli("health", url=url)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "unhealthy"
    assert report["components"]["l2"]["status"] == "unhealthy"
    assert report["components"]["l2"]["status_code"] == -60
    assert done.stderr == ""  # no -v: no events

def test_stats_counts_the_subscribed_invalidation_listeners(redis_url):
    done = cli("stats", url=redis_url)
    assert done.returncode == 0, done.stderr
    before = json.loads(done.stdout)["redis"]
    assert before["invalidation_listeners"] == 0
    assert {"keyspace_hits", "keyspace_misses", "used_memory", "connected_clients", "db_keys"} <= set(before)
    with Cache(from_env=False, redis_url=redis_url, invalidation_listener="on") as cache:
        deadline = time.monotonic() + 10
        while not cache.listener_stats()["subscribed"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cache.listener_stats()["subscribed"]
        after = json.loads(cli("stats", url=redis_url).stdout)["redis"]
        assert after["invalidation_listeners"] == 1
