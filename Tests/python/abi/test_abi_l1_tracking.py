"""l1_tracking (on by default with both tiers) against real redis-server processes: another
process writing a key this process holds in L1 is seen by the next read 100 ms later; across a
Redis restart the copy is dropped when tracking resumes (flush on gap); many caches on one Redis
share one subscriber connection and every one of them drops its copy; a forked child tracks on
a connection of its own."""
import os
import subprocess
import sys
import time

import msgpack
import pytest

from support.abi import OK
from support.redis_server import RedisServer

NULL_POINTER = -1  # CACHEKIT_E_NULL_POINTER

# The writer is another process: redis-py SETting the bare interop entry (MessagePack bytes).
WRITER = """
import sys, msgpack, redis
port, key, value = int(sys.argv[1]), sys.argv[2], sys.argv[3]
redis.Redis(host="127.0.0.1", port=port).set(key, msgpack.packb(value), ex=300)
"""


def write_from_another_process(port, key, value):
    subprocess.run([sys.executable, "-c", WRITER, str(port), key, value], check=True, timeout=60)


def eventually(condition, timeout=10.0):
    """Polls `condition` every 10 ms up to `timeout` (a bound for a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def subscriber_connections(server):
    return sum(1 for client in server.client().client_list() if "P" in client["flags"])


@pytest.fixture
def server():
    started = RedisServer().start()
    yield started
    started.cleanup()


def interop_cache(make_cache, server, **options):
    return make_cache(redis_url=server.url, mode="interop", **options)


def test_another_process_write_is_read_100ms_later(make_cache, server):
    cache = interop_cache(make_cache, server)
    assert eventually(lambda: subscriber_connections(server) == 1)
    for round_ in range(5):
        assert cache.set("user:1", f"mine-{round_}", ttl=300) == OK
        hits = cache.stats()["l1_hits"]
        assert cache.get("user:1") == (OK, f"mine-{round_}")
        assert cache.stats()["l1_hits"] == hits + 1  # served from L1
        write_from_another_process(server.port, "user:1", f"theirs-{round_}")
        time.sleep(0.1)
        assert cache.get("user:1") == (OK, f"theirs-{round_}")
    stats = cache.tracking_stats()
    assert stats["tracking"] == 1 and stats["own_writes_kept"] == 5 and stats["dropped"] == 5, stats


def test_off_by_option_keeps_the_copy(make_cache, server):
    cache = interop_cache(make_cache, server, l1_tracking=0)
    assert cache.set("user:1", "mine", ttl=300) == OK
    write_from_another_process(server.port, "user:1", "theirs")
    time.sleep(0.1)
    assert cache.get("user:1") == (OK, "mine")  # l1_ttl bounds it, as before
    assert subscriber_connections(server) == 0
    assert set(cache.tracking_stats().values()) == {0}


def test_a_redis_restart_drops_the_copies(make_cache, server):
    cache = interop_cache(make_cache, server)
    assert eventually(lambda: subscriber_connections(server) == 1)
    assert cache.set("user:1", "before", ttl=300) == OK
    assert cache.get("user:1") == (OK, "before")
    flushes = cache.tracking_stats()["gap_flushes"]
    server.stop()
    assert eventually(lambda: cache.tracking_stats()["tracking"] == 0)
    assert cache.get("user:1") == (OK, "before")  # fail-open: L1 serves while Redis is away
    server.start()  # same port, empty: the subscriber reconnects on its own
    write_from_another_process(server.port, "user:1", "after")
    assert eventually(lambda: cache.get("user:1") == (OK, "after"))
    assert cache.tracking_stats()["gap_flushes"] == flushes + 1


def test_the_counters_are_zero_without_tracking_and_refuse_null(make_cache, lib):
    import ctypes
    from cachekit_native._ffi import TrackingStats
    local = make_cache()  # no Redis
    assert set(local.tracking_stats().values()) == {0}
    assert lib.cachekit_cache_tracking_stats_get(local.handle, None) == NULL_POINTER
    assert lib.cachekit_cache_tracking_stats_get(None, ctypes.byref(TrackingStats())) == NULL_POINTER


def test_one_subscriber_for_many_caches_and_each_drops_its_copy(make_cache, server):
    caches = [interop_cache(make_cache, server) for _ in range(5)]
    caches += [make_cache(redis_url=server.url, key_prefix=f"app{i}:") for i in range(3)]
    assert eventually(lambda: subscriber_connections(server) == 1)
    for cache in caches[:5]:
        assert cache.set("shared", "v1", ttl=300) == OK
    write_from_another_process(server.port, "shared", "v2")
    time.sleep(0.1)
    assert all(cache.get("shared") == (OK, "v2") for cache in caches[:5])
    for cache in caches:
        cache.close()
    assert eventually(lambda: subscriber_connections(server) == 0)


def test_a_forked_child_tracks_on_its_own_connection(make_cache, server):
    cache = interop_cache(make_cache, server)
    assert cache.set("user:1", "inherited", ttl=300) == OK
    assert eventually(lambda: subscriber_connections(server) == 1)
    pid = os.fork()
    if pid == 0:  # the child reports through its exit code and never returns to pytest
        code = 1
        try:
            cache.get("not-there")  # the first call reaching Redis restarts tracking here
            if not eventually(lambda: subscriber_connections(server) == 2):
                code = 2
            else:
                write_from_another_process(server.port, "user:1", "changed")
                code = 0 if eventually(lambda: cache.get("user:1") == (OK, "changed")) else 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the child did not finish")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert eventually(lambda: subscriber_connections(server) == 1)  # the child's went with it
    assert eventually(lambda: cache.get("user:1") == (OK, "changed"))  # the parent was told too
