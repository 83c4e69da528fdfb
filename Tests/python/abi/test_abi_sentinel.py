"""Sentinel: a cache on redis+sentinel:// finds the master through three real sentinels and
follows it through SENTINEL FAILOVER while it keeps reading and writing, without a restart."""
import threading
import time

import redis.sentinel

from support.abi import OK
from support.redis_server import wait_until

PREFIX = "t:default:"
RECOVERY_BOUND_S = 15.0


def test_the_topology_serves_redis_py(sentinel_topology):
    """The fixture itself: redis-py's Sentinel client finds the master and the replica follows it."""
    nodes = [("127.0.0.1", s.port) for s in sentinel_topology.sentinels]
    sentinel = redis.sentinel.Sentinel(nodes, socket_timeout=1)
    master = sentinel.master_for(sentinel_topology.service, socket_timeout=1)
    master.set("topology-probe", b"1")
    replica = sentinel.slave_for(sentinel_topology.service, socket_timeout=1)
    wait_until(lambda: replica.get("topology-probe") == b"1", 5, "the replica has the probe")
    assert sentinel.discover_master(sentinel_topology.service) == sentinel_topology.master_address()


def test_a_long_lived_cache_follows_a_failover(make_cache, sentinel_topology, capsys):
    topology = sentinel_topology
    topology.wait_until_settled(topology.master_address(), 30)
    cache = make_cache(redis_url=topology.url, l1_max_bytes=0, connect_timeout_ms=500, command_timeout_ms=500)
    records = []  # (started, ended, index, round trip ok)
    stop = threading.Event()

    def read_write_loop():
        index = 0
        while not stop.is_set():
            key = f"failover:{index}"
            started = time.monotonic()
            cache.set(key, index, ttl=300)
            rc, value = cache.get(key)
            records.append((started, time.monotonic(), index, rc == OK and value == index))
            index += 1
            time.sleep(0.01)

    worker = threading.Thread(target=read_write_loop, daemon=True)
    worker.start()
    try:
        wait_until(lambda: sum(ok for *_, ok in records) >= 20, 10, "20 round trips through the first master")
        old_master = topology.server_at(topology.master_address())
        assert old_master.client().exists(f"{PREFIX}failover:{records[-1][2]}") == 1

        failover_started = time.monotonic()
        topology.failover()
        switched = time.monotonic()  # every sentinel now names the promoted replica
        new_master = topology.server_at(topology.master_address())
        assert new_master is not old_master

        on_new_master = new_master.client()

        # Until the old master is demoted (Sentinel does it ~10 s later) it still takes writes
        # that the new master never sees: recovered means a round trip that landed on the new one.
        def recovered():
            return next((r for r in list(records)
                         if r[0] >= switched and r[3] and on_new_master.exists(f"{PREFIX}failover:{r[2]}")), None)
        first_ok = wait_until(recovered, RECOVERY_BOUND_S, "a write and read through the new master", 0.1)
        recovery = first_ok[1] - failover_started
        time.sleep(1.0)  # keep going on the new master a little
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive(), "a cache call hung during the failover"

    during = [r for r in records if failover_started <= r[0] < first_ok[0]]
    longest = max((end - start for start, end, _, _ in records), default=0)
    after = [r for r in records if r[0] >= first_ok[0]]
    with capsys.disabled():
        print(f"\nSentinel failover: first round trip through the new master {recovery:.2f} s after SENTINEL "
              f"FAILOVER ({len(during)} round trips meanwhile, {sum(not r[3] for r in during)} missed; "
              f"longest round trip {longest:.2f} s; {len(after)} after)")
    assert recovery < RECOVERY_BOUND_S + (switched - failover_started)
    assert longest < 3.0, "one set + get exceeded its timeouts"  # the loop kept going
    assert len(after) >= 10 and all(ok for *_, ok in after), [r for r in after if not r[3]][:5]
    missing = [i for _, _, i, _ in after if not on_new_master.exists(f"{PREFIX}failover:{i}")]
    assert missing == [], f"written after recovery but not on the new master: {missing[:10]}"
    assert on_new_master.info("replication")["role"] == "master"


def test_l1_tracking_follows_a_failover(make_cache, sentinel_topology):
    """A key held in L1 is rewritten on the new master after SENTINEL FAILOVER: the subscriber
    moves to the new master (before Sentinel demotes the old one), flushes L1 on the way, and
    the read returns the new value well within the demotion's ~10 s."""
    topology = sentinel_topology
    topology.wait_until_settled(topology.master_address(), 30)
    cache = make_cache(redis_url=topology.url, connect_timeout_ms=500, command_timeout_ms=500)
    wait_until(lambda: cache.tracking_stats()["tracking"] == 1, 10, "tracking on the first master")
    assert cache.set("tracked-failover", "before", ttl=300) == OK
    assert cache.get("tracked-failover") == (OK, "before")
    flushes = cache.tracking_stats()["gap_flushes"]

    topology.failover()
    new_master = topology.server_at(topology.master_address())
    writer = make_cache(redis_url=new_master.url, l1_max_bytes=0, l1_tracking=0)
    assert writer.set("tracked-failover", "after", ttl=300) == OK
    started = time.monotonic()
    # 5 s: well before the demotion (~10 s), which would also end the old subscription.
    wait_until(lambda: cache.get("tracked-failover") == (OK, "after"), 5, "the new value through L1")
    assert cache.tracking_stats()["gap_flushes"] > flushes
    print(f"\nl1_tracking across a failover: new value read {time.monotonic() - started:.2f} s after the write")
