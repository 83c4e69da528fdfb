"""TLS against a real redis-server that speaks only TLS (certificates made by the test with
openssl): entries shared with the real cachekit 0.24.1 both ways over one rediss:// URL, with
and without client certificates; a wrong CA or a missing client certificate is CACHEKIT_E_TLS,
a plaintext server behind rediss:// (its handshake stalls) a TLS or timeout status, each within
the connect timeout and never a fallback to plaintext."""
import socket
import time

import pytest

from support.abi import MISS, OK
from support.keys_entries import KeysAndEntries
from support.peer import MASTER_KEY, PEER_MODES, run_peer_phase

E_BACKEND_TIMEOUT, E_TLS = -61, -69
PREFIX = "t:default:"
# What the library writes for cachekit-py to read: JSON-plain, so the peer's report equals it.
LIBRARY_VALUE = {"from": "libcachekit over TLS", "n": 7, "f": 0.25, "l": [None, False, "x"]}


@pytest.fixture(scope="module")
def ck(lib):
    return KeysAndEntries(lib)


@pytest.fixture(params=["tls", "mutual-tls"])
def tls_any(request, tls_redis, mtls_redis):
    """Each TLS server in turn: client certificates not asked for, then required."""
    return tls_redis if request.param == "tls" else mtls_redis


def peer_cache_options(mode):
    """cachekit_cache options reading and writing what cachekit_peer.py's `mode` function does."""
    entry_mode, _, _, encrypted, prefixed = PEER_MODES[mode]
    options = {"mode": {"auto": "secure" if encrypted else "plain"}.get(entry_mode, entry_mode),
               "key_prefix": PREFIX if prefixed else "", "l1_max_bytes": 0}
    if encrypted:
        options["master_key"] = MASTER_KEY
    return options


def library_key(ck, mode):
    key = ck.peer_key(mode)
    return key[len(PREFIX):] if PEER_MODES[mode][4] else key


def plaintext_refused(port) -> bool:
    """A plaintext PING to the TLS port gets no +PONG: the server speaks only TLS."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return not s.recv(16).startswith(b"+PONG")
    except OSError:
        return True


def test_cachekit_py_round_trips_over_tls(tls_any):
    """cachekit-py's own half: it writes over the rediss:// URL and reads its entries back as hits."""
    written = run_peer_phase(tls_any.url, "write")
    assert set(written["calls"].values()) == {1}
    assert len(written["keys"]) == len(PEER_MODES)
    assert tls_any.client().dbsize() >= len(PEER_MODES)
    assert plaintext_refused(tls_any.port)
    read = run_peer_phase(tls_any.url, "read")
    assert read["calls"] == {mode: 0 for mode in PEER_MODES}


def test_library_reads_what_cachekit_py_wrote_over_tls(make_cache, ck, tls_any):
    run_peer_phase(tls_any.url, "write")
    for mode in PEER_MODES:
        cache = make_cache(redis_url=tls_any.url, **peer_cache_options(mode))
        rc, value = cache.get(library_key(ck, mode))
        assert rc == OK, (mode, rc, cache.health().detail)
        assert (value["name"], value["ids"], value["blob"]) == ("alice", [1, 2, 3], b"\x00\x01\xfe"), mode
        assert cache.stats()["l2_hits"] == 1, mode


def test_cachekit_py_reads_what_the_library_wrote_over_tls(make_cache, ck, tls_any):
    for mode in PEER_MODES:
        cache = make_cache(redis_url=tls_any.url, **peer_cache_options(mode))
        assert cache.set(library_key(ck, mode), LIBRARY_VALUE, ttl=300) == OK
        assert cache.health().l2_status == OK, (mode, cache.health().detail)
    stored = tls_any.client().get(ck.peer_key("secure"))
    assert stored is not None and b"libcachekit" not in stored  # encrypted at rest, sent over TLS
    report = run_peer_phase(tls_any.url, "read")
    assert report["calls"] == {mode: 0 for mode in PEER_MODES}  # every function body skipped: hits
    assert report["results"] == {mode: LIBRARY_VALUE for mode in PEER_MODES}


def refused_within(make_cache, url, statuses=(E_TLS,), bound=3.0):
    """A cache on url (connect timeout 1 s): health reports one of `statuses` within `bound` s
    and a get is a miss."""
    cache = make_cache(redis_url=url, connect_timeout_ms=1000, command_timeout_ms=1000, l1_max_bytes=0)
    start = time.monotonic()
    health = cache.health()
    elapsed = time.monotonic() - start
    assert health.l2_status in statuses, (health.l2_status, health.detail)
    assert elapsed < bound, elapsed
    assert health.detail, "the health report names no reason"
    assert cache.get("anything") == (MISS, None)
    return cache


def test_a_wrong_ca_is_refused(make_cache, tls_redis, tls_files):
    refused_within(make_cache, tls_redis.tls_url(ca=tls_files.other_ca))


def test_the_system_store_does_not_know_the_test_ca(make_cache, tls_redis):
    refused_within(make_cache, tls_redis.tls_url(ca=False))


def test_mutual_tls_without_a_client_certificate_is_refused(make_cache, mtls_redis):
    refused_within(make_cache, mtls_redis.tls_url(client_cert=False))


def test_a_plaintext_server_behind_rediss_is_refused_and_never_used(make_cache, redis_server, redis_url, tls_files):
    plain = redis_server.client()
    plain.config_resetstat()
    url = f"rediss://127.0.0.1:{redis_server.port}/0?ssl_ca_certs={tls_files.ca}&ssl_cert_reqs=required"
    # redis-server waits for a newline the ClientHello does not carry: the handshake stalls.
    cache = refused_within(make_cache, url, statuses=(E_TLS, E_BACKEND_TIMEOUT))
    assert cache.set("never-in-plaintext", "v", ttl=60) == OK  # fail-open: L1 only (off here)
    assert plain.exists(f"{PREFIX}never-in-plaintext") == 0
    commands = plain.info("commandstats")
    assert not {"cmdstat_set", "cmdstat_setex", "cmdstat_get", "cmdstat_ping"} & set(commands), commands


def test_cert_reqs_none_connects_to_a_server_with_an_unknown_ca(make_cache, tls_redis):
    url = tls_redis.tls_url(ca=False, cert_reqs="none")
    writer = make_cache(redis_url=url, l1_max_bytes=0)
    assert writer.health().l2_status == OK, writer.health().detail
    assert writer.set("unverified", {"ok": True}, ttl=60) == OK
    assert tls_redis.client().exists(f"{PREFIX}unverified") == 1
    reader = make_cache(redis_url=url, l1_max_bytes=0)
    assert reader.get("unverified") == (OK, {"ok": True})
