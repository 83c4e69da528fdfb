"""Redis Cluster: a cache on redis+cluster:// against a real 3-primary, 3-replica cluster on
loopback. Every key written reads back, get_many spans many slots, namespace invalidation and the
key registry reach every primary, pub/sub crosses nodes, health names each node; and a long-lived
cache keeps working while 1000 slots move and while primaries fail over, never returning a value
of another key.

One cluster serves the module; the tests that reshard or fail it over run last, in file order."""
import ctypes
import os
import threading
import time

import pytest

from support.abi import MISS, OK, Buffer, take
from support.cli import cli
from support.redis_cluster import RedisCluster
from support.redis_server import wait_until

from cachekit_native import Cache as NativeCache

PREFIX = "t:default:"
RECOVERY_BOUND_S = 10.0
VALUE = b"\xa1v"


@pytest.fixture(scope="module")
def cluster():
    instance = RedisCluster().start()
    yield instance
    instance.stop()


def cluster_cache(make_cache, cluster, **options):
    return make_cache(redis_url=cluster.url, l1_max_bytes=0, connect_timeout_ms=500, command_timeout_ms=500, **options)


def keys_per_primary(cluster, pattern):
    return {node.port: len(list(cluster.client(node).scan_iter(match=pattern, count=1000)))
            for node in cluster.primaries()}


def test_every_key_written_reads_back_and_lands_on_its_slots_primary(make_cache, cluster):
    cache = cluster_cache(make_cache, cluster)
    for i in range(3000):
        assert cache.set(f"every:{i}", i, ttl=300) == OK
    for i in range(3000):
        assert cache.get(f"every:{i}") == (OK, i)
    counts = keys_per_primary(cluster, f"{PREFIX}every:*")
    assert sum(counts.values()) == 3000 and all(count > 800 for count in counts.values()), counts
    assert cache.exists("every:7") == OK
    assert cache.delete("every:7") == OK
    assert cache.get("every:7") == (MISS, None)
    # Hash tags put keys in one slot, as the Redis spec says.
    for i in range(20):
        assert cache.set(f"{{user1000}}.tagged:{i}", i, ttl=300) == OK
    slots = {cluster.cluster_client().keyslot(f"{PREFIX}{{user1000}}.tagged:{i}") for i in range(20)}
    assert len(slots) == 1


def test_get_many_over_keys_in_many_slots(make_cache, cluster):
    cache = cluster_cache(make_cache, cluster)
    keys = [f"many:{i}" for i in range(3000)]
    for i, key in enumerate(keys):
        if i % 10 != 3:
            assert cache.set(key, key, ttl=300) == OK
    rc, values = cache.get_many(keys)
    assert rc == OK
    for i, (key, value) in enumerate(zip(keys, values)):
        assert value == (None if i % 10 == 3 else key)


def test_bulk_writes_and_the_ttl_read_work_across_slots(cluster):
    import msgpack
    keys = [f"bulk:{i}" for i in range(600)]  # every primary holds some
    with NativeCache(from_env=False, redis_url=cluster.url, l1_max_size_mb=0) as handle:
        handle.set_many({key: msgpack.packb(key) for key in keys}, ttl=300)
        assert handle.get_many(keys) == {key: msgpack.packb(key) for key in keys}
        assert sum(keys_per_primary(cluster, "t:default:bulk:*").values()) == 600
        assert all(count > 0 for count in keys_per_primary(cluster, "t:default:bulk:*").values())
        assert 290 <= handle.ttl(keys[17]) <= 300
        assert handle.delete_many(keys[:400] + ["bulk:absent"]) == 400
        assert handle.get_many(keys) == {key: msgpack.packb(key) for key in keys[400:]}
        assert sum(keys_per_primary(cluster, "t:default:bulk:*").values()) == 200


def test_namespace_invalidation_removes_keys_from_every_primary(make_cache, cluster):
    cache = cluster_cache(make_cache, cluster)
    for i in range(1500):
        assert cache.set(f"ns:users:func:m.f:args:{i}:1s", i, ttl=60) == OK
    assert cache.set("ns:orders:func:m.f:args:1:1s", "keep", ttl=60) == OK
    assert all(count > 0 for count in keys_per_primary(cluster, f"{PREFIX}ns:users:*").values())
    assert cache.invalidate_namespace("users") == (OK, 1500)
    assert keys_per_primary(cluster, f"{PREFIX}ns:users:*") == {n.port: 0 for n in cluster.primaries()}
    assert cache.get("ns:orders:func:m.f:args:1:1s") == (OK, "keep")


def test_key_registry_drains_keys_in_other_slots(cluster):
    rid = "ck:reg::00112233aabbccdd"
    members = [f"func:m.f:args:{i}:1s" for i in range(300)]
    with NativeCache(from_env=False, redis_url=cluster.url) as handle:
        for member in members:
            handle.set_tracked(rid, member, VALUE, ttl=300)
        client = cluster.cluster_client()
        assert client.scard(f"{PREFIX}{rid}") == 300
        assert sum(client.exists(f"{PREFIX}{member}") for member in members) == 300
        assert handle.drain_registry(rid) == 300
        assert sum(client.exists(f"{PREFIX}{member}") for member in members) == 0
        assert client.exists(f"{PREFIX}{rid}") == 0


def test_publish_reaches_a_listener_subscribed_on_another_node(cluster):
    rid = "ck:reg::00112233aabbccdd"
    with NativeCache(from_env=False, redis_url=cluster.url) as publisher, \
            NativeCache(from_env=False, redis_url=cluster.url, invalidation_listener="1") as listener:
        wait_until(lambda: listener.listener_stats()["subscribed"] == 1, 10, "the listener's subscription")
        listener.set_tracked(rid, "func:m.f:args:a:1s", VALUE)
        assert listener.get_local("func:m.f:args:a:1s") is not None
        # Each publish goes to the node of the channel's slot; the listener is on some node.
        assert publisher.publish_invalidation(rid, "func:m.f:args:a:1s") is True
        wait_until(lambda: listener.get_local("func:m.f:args:a:1s") is None, 10, "the event crossed the cluster bus")


def test_health_reports_each_node(make_cache, cluster):
    cache = cluster_cache(make_cache, cluster)
    assert cache.set("health", 1) == OK
    report = cache.health()
    assert report.l2_status == OK
    assert "cluster 3 primaries, 3 replicas, 16384/16384 slots" in report.detail.decode()
    for i in range(30):
        assert cache.set(f"health:{i}", i) == OK
    stats = cache.redis_stats()  # every node's pool, summed: one connection per primary at least
    assert stats["connections_opened"] >= 3 and stats["pool_in_use"] == 0


def test_a_tls_cluster_over_rediss_cluster(make_cache, tls_files):
    own = RedisCluster(replicas_per_primary=0, tls_files=tls_files).start()
    try:
        assert own.url.startswith("rediss+cluster://")
        cache = make_cache(redis_url=own.url, l1_max_bytes=0)
        for i in range(300):
            assert cache.set(f"tls:{i}", i, ttl=300) == OK
        assert cache.get_many([f"tls:{i}" for i in range(300)]) == (OK, list(range(300)))
        assert all(count > 0 for count in keys_per_primary(own, f"{PREFIX}tls:*").values())
        wrong_ca = make_cache(redis_url=own.url.split("?")[0], l1_max_bytes=0, connect_timeout_ms=500)
        assert wrong_ca.get("tls:1")[0] != OK  # the system store does not know the test CA
    finally:
        own.stop()


def test_parent_and_children_read_their_own_values_after_fork(make_cache, cluster):
    cache = cluster_cache(make_cache, cluster)
    keys = [f"fork:{i}" for i in range(300)]
    for key in keys:
        assert cache.set(key, key, ttl=300) == OK
    assert cache.get_many(keys) == (OK, keys)  # every node's pool holds open connections now
    children = []
    for child in range(3):
        pid = os.fork()
        if pid == 0:  # the child: its own connections to every node, the same answers
            ok = all(cache.get(key) == (OK, key) for key in keys) and cache.get_many(keys) == (OK, keys)
            os._exit(0 if ok else 1)
        children.append(pid)
    parent_ok = all(cache.get(key) == (OK, key) for key in keys)
    statuses = [os.waitpid(pid, 0)[1] for pid in children]
    assert parent_ok and statuses == [0, 0, 0]


def node_health(lib, cache):
    out = Buffer()
    rc = lib.cachekit_cache_node_health_get(cache.handle, ctypes.byref(out))
    return rc, (take(lib, out).decode().splitlines() if rc == OK else None)


def test_node_health_reports_every_node_of_the_cluster_and_the_one_server(lib, make_cache, cluster, redis_url):
    rc, lines = node_health(lib, cluster_cache(make_cache, cluster))
    assert rc == OK and len(lines) == 6, lines
    fields = [dict(part.split("=", 1) for part in line.split()[2:]) for line in lines]
    roles = [line.split()[1] for line in lines]
    assert roles.count("primary") == 3 and roles.count("replica") == 3
    assert sum(int(f["slots"]) for f in fields) == 16384
    assert all(f["breaker"] == "closed" and int(f["ping_ns"]) > 0 for f in fields)
    assert {line.split()[0] for line in lines} == {f"127.0.0.1:{n.port}" for n in cluster.alive()}
    rc, lines = node_health(lib, make_cache(redis_url=redis_url))
    assert rc == OK and len(lines) == 1 and lines[0].startswith("127.0.0.1:") and " primary slots=16384 " in lines[0]
    assert node_health(lib, make_cache(redis_url=""))[0] == MISS


def test_read_from_replicas_reads_what_was_written(make_cache, cluster):
    writer = cluster_cache(make_cache, cluster)
    reader = make_cache(redis_url=cluster.url + "?read_from_replicas=true", l1_max_bytes=0)
    for i in range(200):
        assert writer.set(f"replica:{i}", i, ttl=300) == OK
    replicas = [n for n in cluster.alive() if cluster.role(n) == "slave"]
    wait_until(lambda: sum(cluster.client(n).dbsize() for n in replicas) >= sum(
        cluster.client(n).dbsize() for n in cluster.primaries()), 10, "the replicas caught up")
    served_before = sum(cluster.client(n).info("stats")["total_commands_processed"] for n in replicas)
    for i in range(200):
        assert reader.get(f"replica:{i}") == (OK, i)
    served_after = sum(cluster.client(n).info("stats")["total_commands_processed"] for n in replicas)
    assert served_after - served_before >= 200  # the gets went to replicas


def test_the_cli_reads_and_writes_keys_on_every_primary(cluster):
    keys = [f"cli:{i}" for i in range(12)]
    for key in keys:
        assert cli("put", key, "--msgpack-hex", "81a16101", "--mode", "minimal", url=cluster.url).returncode == 0
    counts = keys_per_primary(cluster, "cli:*")  # the CLI takes the exact Redis key
    assert all(count > 0 for count in counts.values()), counts
    for key in keys:
        done = cli("get", key, "--mode", "minimal", "--raw", url=cluster.url)
        assert done.returncode == 0, done.stderr
    assert cli("get", "cli:absent", url=cluster.url).returncode == 1


def test_ask_during_a_slot_migration_sends_the_command_to_the_importing_node_once(make_cache, cluster):
    tag = "{ask-migration}"
    keys = [f"{tag}:{i}" for i in range(3)]
    client = cluster.cluster_client()
    slot = client.keyslot(f"{PREFIX}{keys[0]}")
    owner_port = client.nodes_manager.get_node_from_slot(slot).port
    source = next(n for n in cluster.primaries() if n.port == owner_port)
    target = next(n for n in cluster.primaries() if n is not source)
    ids = {n.port: cluster.client(n).execute_command("CLUSTER", "MYID").decode() for n in (source, target)}
    plain = cluster_cache(make_cache, cluster)
    with_l1 = make_cache(redis_url=cluster.url)  # reads GET and PTTL in one pipeline
    assert plain.set(keys[0], "moved early", ttl=300) == OK
    assert plain.set(keys[1], "still at the source", ttl=300) == OK
    cluster.client(target).execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source.port])
    cluster.client(source).execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target.port])
    cluster.client(source).execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", f"{PREFIX}{keys[0]}")
    asks_before = cluster.client(target).info("commandstats").get("cmdstat_asking", {}).get("calls", 0)

    assert plain.get(keys[0]) == (OK, "moved early")           # ASK from the source, ASKING at the target
    assert plain.get(keys[1]) == (OK, "still at the source")
    assert with_l1.get(keys[0]) == (OK, "moved early")
    assert plain.set(keys[2], "new during the migration", ttl=300) == OK  # new keys go to the target
    assert cluster.client(target).execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 2
    assert plain.get_many(keys + [f"{tag}:absent"]) == (OK, ["moved early", "still at the source",
                                                               "new during the migration", None])
    asks = cluster.client(target).info("commandstats")["cmdstat_asking"]["calls"] - asks_before
    assert asks >= 5

    cluster.client(source).execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", f"{PREFIX}{keys[1]}")
    for node in cluster.primaries():
        node_client = cluster.client(node)
        node_client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target.port])
    assert plain.get(keys[1]) == (OK, "still at the source")  # MOVED now: the map learns the new owner
    assert with_l1.delete(keys[1]) == OK


class ReadWriteLoop:
    """A thread writing and reading fresh keys through one cache, recording every round trip."""

    def __init__(self, cache):
        self.cache = cache
        self.records = []  # (ended, ok)
        self.wrong = []    # values returned for another key
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        index = 0
        while not self.stop.is_set():
            key = f"loop:{index}"
            set_rc = self.cache.set(key, [key, index], ttl=300)
            rc, value = self.cache.get(key)
            if rc == OK and value != [key, index]:
                self.wrong.append((key, value))
            self.records.append((time.monotonic(), set_rc == OK and rc == OK))
            index += 1

    def __enter__(self):
        self.thread.start()
        wait_until(lambda: sum(ok for _, ok in self.records) >= 50, 10, "50 round trips before the change")
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join(10)

    def since(self, moment):
        return [ok for ended, ok in self.records if ended >= moment]

    def recovered_within(self, moment, bound, streak=50):
        """The time from `moment` to the start of a streak of `streak` successful round trips."""
        def found():
            run = 0
            for ended, ok in self.records:
                if ended < moment:
                    continue
                run = run + 1 if ok else 0
                if run >= streak:
                    return True
            return False
        wait_until(found, bound, f"{streak} successful round trips in a row")


def test_a_long_lived_cache_keeps_working_while_1000_slots_move(make_cache, cluster, capsys):
    cache = cluster_cache(make_cache, cluster)
    source, target = cluster.primaries()[:2]
    with ReadWriteLoop(cache) as loop:
        started = time.monotonic()
        cluster.reshard(source, target, 1000)
        finished = time.monotonic()
        during = loop.since(started)
        wait_until(lambda: len(loop.since(finished)) >= 200, 10, "200 round trips after the reshard")
    assert loop.wrong == []
    after = loop.since(finished)
    with capsys.disabled():
        print(f"\n[cluster reshard] {finished - started:.1f} s moving 1000 slots: {sum(during)}/{len(during)} "
              f"round trips ok during, {sum(after)}/{len(after)} after")
    assert sum(during) >= 0.99 * len(during)
    assert all(after[-100:])


def test_a_long_lived_cache_follows_a_manual_failover_and_a_killed_primary(make_cache, cluster, capsys):
    cache = cluster_cache(make_cache, cluster)
    with ReadWriteLoop(cache) as loop:
        primary = cluster.primaries()[0]
        replica = cluster.replicas_of(primary)[0]
        manual = time.monotonic()
        cluster.manual_failover(replica)
        loop.recovered_within(manual, RECOVERY_BOUND_S)
        manual_recovered = time.monotonic()
        during_manual = loop.since(manual)

        victim = cluster.primaries()[0]
        killed = time.monotonic()
        cluster.kill(victim)
        loop.recovered_within(killed, RECOVERY_BOUND_S)
        recovered = time.monotonic()
        wait_until(lambda: len(loop.since(recovered)) >= 100, 10, "100 round trips after recovering")
    assert loop.wrong == []
    after = loop.since(recovered)
    with capsys.disabled():
        print(f"\n[cluster failover] manual: {sum(during_manual)}/{len(during_manual)} ok, recovered in "
              f"{manual_recovered - manual:.1f} s; killed primary: recovered in {recovered - killed:.1f} s, "
              f"{sum(after)}/{len(after)} ok after")
    assert all(after[-50:])


def test_the_listener_moves_to_another_node_when_its_node_dies():
    from cachekit.invalidation import CHANNEL
    rid = "ck:reg::00112233aabbccdd"
    own = RedisCluster().start()  # its own cluster: a node of it is killed
    try:
        with NativeCache(from_env=False, redis_url=own.url) as publisher, \
                NativeCache(from_env=False, redis_url=own.url, invalidation_listener="1") as listener:
            wait_until(lambda: listener.listener_stats()["subscribed"] == 1, 10, "the listener's subscription")
            host = next(n for n in own.alive() if own.client(n).pubsub_numsub(CHANNEL)[0][1] > 0)
            own.kill(host)
            wait_until(lambda: listener.listener_stats()["resubscriptions"] >= 1
                       and listener.listener_stats()["subscribed"] == 1, RECOVERY_BOUND_S, "a subscription on another node")
            assert any(own.client(n).pubsub_numsub(CHANNEL)[0][1] > 0 for n in own.alive())
            listener.set_tracked(rid, "func:m.f:args:a:1s", VALUE)

            def evicted():
                publisher.publish_invalidation(rid, "func:m.f:args:a:1s")  # False while its slot fails over
                return listener.get_local("func:m.f:args:a:1s") is None
            wait_until(evicted, RECOVERY_BOUND_S, "an event reached the moved listener", interval=0.2)
    finally:
        own.stop()
