"""Load: 64 Python threads (ctypes releases the GIL during each call) on a pool of 8 Redis
connections with L1 off, all reading one stored key. A call that finds every connection busy
waits for one; waiting is not a Redis failure, so every get is a hit and nothing is skipped."""
import threading

from support.abi import OK

THREADS = 64
GETS_PER_THREAD = 150


def test_64_threads_on_8_connections_all_hit(make_cache, redis_url):
    cache = make_cache(redis_url=redis_url, pool_size=8, l1_max_bytes=0)
    assert cache.set("hot", {"stored": True}, ttl=300) == OK
    start = threading.Barrier(THREADS)
    outcomes = [None] * THREADS

    def reader(slot):
        start.wait()
        results = [cache.get("hot") for _ in range(GETS_PER_THREAD)]
        outcomes[slot] = sum(result == (OK, {"stored": True}) for result in results)

    threads = [threading.Thread(target=reader, args=(slot,)) for slot in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a get hung"

    stats = cache.stats()
    total = THREADS * GETS_PER_THREAD
    observed = {"hits seen by the threads": sum(outcomes), "misses": stats["misses"],
                "l2_skipped": stats["l2_skipped"], "l2_errors": stats["l2_errors"], "errors": stats["errors"]}
    assert observed == {"hits seen by the threads": total, "misses": 0, "l2_skipped": 0, "l2_errors": 0, "errors": 0}
    assert stats["l2_hits"] == total and stats["l1_hits"] == 0
    assert cache.health().l2_status == OK
    redis = cache.redis_stats()
    # The threads did queue for connections, and never more than 8 were in use.
    assert redis["pool_waits"] > 0 and redis["pool_timeouts"] == 0, redis
    assert redis["pool_size"] == 8 and 1 <= redis["pool_peak_in_use"] <= 8, redis
    assert redis["breaker_state"] == 0 and redis["breaker_opened"] == 0 and redis["backpressure_shed"] == 0, redis
