"""Faults at the cache level, against small misbehaving servers in the test (support/fault_server.py):
each get is a miss within a few times the 300 ms timeouts (a correctness bound with a wide
margin, not a benchmark), the health probe names a failure, memory follows the limits and not
what the server claims, and a namespace sweep against an endless SCAN stops with a status."""
import ctypes
import threading
import time

import pytest

from support.abi import MISS, last_message
from support.cache import timed
from support.fault_server import (EndlessDrain, EndlessScan, FaultServer, claims_20_million_elements, claims_a_2_gib_bulk,
                                  close_mid_reply, never_answer, one_byte_every_100_ms)

E_BACKEND_UNAVAILABLE, E_BACKEND_TIMEOUT, E_TLS, E_REPLY_TOO_LARGE, E_SWEEP_INCOMPLETE = -60, -61, -69, -72, -74
# The breaker stays closed (threshold 100), so the health probe after the get reaches the server.
TIMEOUTS = dict(connect_timeout_ms=300, command_timeout_ms=300, l1_max_bytes=0, failure_threshold=100)
CALL_BOUND_S = 1.5  # five times the timeout
PEAK_GROWTH_BOUND = 50 * 1024 * 1024
SWEEP_BOUND_S = 10.0

# name: (fault, the statuses the health probe may report for it)
FAULTS = {
    "closes mid-reply": (close_mid_reply, {E_BACKEND_UNAVAILABLE, E_BACKEND_TIMEOUT}),
    "never answers": (never_answer, {E_BACKEND_TIMEOUT}),
    "one byte every 100 ms": (one_byte_every_100_ms, {E_BACKEND_TIMEOUT}),
    "claims a 2 GiB bulk string": (claims_a_2_gib_bulk, {E_REPLY_TOO_LARGE}),
    "claims a 20 M-element array": (claims_20_million_elements, {E_REPLY_TOO_LARGE}),
}


def peak_rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    pytest.fail("no VmHWM in /proc/self/status")


def reset_peak_rss():
    """Resets VmHWM to the current RSS (Linux clear_refs 5), so earlier tests' peaks do not hide growth."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_misbehaving_server_costs_a_bounded_miss(make_cache, name):
    fault, health_statuses = FAULTS[name]
    with FaultServer(fault) as server:
        cache = make_cache(redis_url=server.url(userinfo=":fault-pw@"), **TIMEOUTS)
        reset_peak_rss()
        before = peak_rss_bytes()
        (rc, _), elapsed = timed(cache.get, "k")
        grown = peak_rss_bytes() - before
        assert rc == MISS
        assert elapsed < CALL_BOUND_S, f"get took {elapsed:.2f} s against 300 ms timeouts"
        assert grown < PEAK_GROWTH_BOUND, f"peak RSS grew {grown / 2**20:.0f} MiB"
        assert any(command[:1] == [b"GET"] for command in server.commands_seen), server.commands_seen[:5]
        assert cache.stats()["l2_errors"] >= 1  # such a server counts as failing
        health, elapsed = timed(cache.health)
        assert health.l2_status in health_statuses, (health.l2_status, health.detail)
        assert elapsed < CALL_BOUND_S
        assert b"fault-pw" not in health.detail


def test_a_tls_port_that_never_handshakes_costs_a_bounded_miss(make_cache, tls_files):
    with FaultServer(never_answer) as server:
        url = server.url("rediss", query=f"ssl_ca_certs={tls_files.ca}&ssl_cert_reqs=required")
        cache = make_cache(redis_url=url, **TIMEOUTS)
        (rc, _), elapsed = timed(cache.get, "k")
        assert rc == MISS and elapsed < CALL_BOUND_S, elapsed
        health, elapsed = timed(cache.health)
        assert health.l2_status in {E_TLS, E_BACKEND_TIMEOUT}, (health.l2_status, health.detail)
        assert elapsed < CALL_BOUND_S
        assert server.commands_seen == []  # nothing was sent in plaintext


def test_namespace_invalidation_against_an_endless_scan_stops_with_a_status(make_cache):
    scan = EndlessScan("users")
    with FaultServer(scan) as server:
        # The sweep's own bound (sweep_timeout_ms; its default is 30 s) well inside the test's.
        cache = make_cache(redis_url=server.url(), sweep_timeout_ms=2000, **TIMEOUTS)
        outcome = {}

        def sweep():
            outcome["status"], outcome["removed"] = cache.invalidate_namespace("users")
        sweeper = threading.Thread(target=sweep, daemon=True)
        sweeper.start()
        sweeper.join(SWEEP_BOUND_S)
        hung = sweeper.is_alive()
        pages = scan.pages
        if hung:
            server.stop()  # the sweep then fails on the closed connection
            sweeper.join(5)
            if sweeper.is_alive():
                cache.handle = ctypes.c_void_p()  # still inside the library: never free it under the call
    assert not hung, f"namespace invalidation still running after {SWEEP_BOUND_S:.0f} s ({pages} SCAN pages)"
    assert outcome["status"] == E_SWEEP_INCOMPLETE, outcome
    assert 0 < scan.pages


def test_registry_drain_against_a_set_that_never_empties_stops_with_a_status(make_cache):
    drain = EndlessDrain()
    with FaultServer(drain) as server:
        cache = make_cache(redis_url=server.url(), **TIMEOUTS)
        removed = ctypes.c_uint64()
        reset_peak_rss()
        before = peak_rss_bytes()
        start = time.monotonic()
        rc = cache.lib.cachekit_cache_drain_registry(cache.handle, b"ck:reg::00ff", None, None, 0, ctypes.byref(removed))
        elapsed = time.monotonic() - start
        grown_mib = (peak_rss_bytes() - before) / 1048576
    # The drain hands at most 250 000 members to the cache, so memory stays bounded.
    assert rc == E_SWEEP_INCOMPLETE, (rc, last_message(cache.lib))
    assert "drain" in last_message(cache.lib) and elapsed < SWEEP_BOUND_S, (elapsed, last_message(cache.lib))
    assert drain.rounds >= 25 and grown_mib < 200, (drain.rounds, grown_mib)
