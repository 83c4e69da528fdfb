"""Live interop with the real cachekit 0.24.1 through a private redis-server, in both directions:
cachekit-py writes in every mode and libcachekit reads; libcachekit writes and cachekit-py reads
the entries as cache hits (its function bodies never run)."""
import msgpack
import pytest
import redis

from support.keys_entries import KeysAndEntries
from support.peer import PEER_MODES, run_peer_phase
from cachekit_native.errors import CachekitError

# What cachekit-py stores for cachekit_peer.VALUE (datetimes become sentinel maps).
PEER_INNER = {
    "name": "alice", "ids": [1, 2, 3], "score": 9.5, "ok": True, "none": None, "blob": b"\x00\x01\xfe",
    "when": {"__datetime__": True, "value": "2024-01-15T12:30:00+00:00"},
}

E_NOT_ENCRYPTED = -55
E_ENCRYPTED_ENTRY = -56
E_AUTHENTICATION_FAILED = -20


@pytest.fixture(scope="module")
def ck(lib):
    return KeysAndEntries(lib)


@pytest.fixture
def keyring(ck):
    handle = ck.keyring()
    yield handle
    ck.c.cachekit_keyring_free(handle)


def test_python_writes_every_mode_and_libcachekit_reads_it(ck, keyring, redis_url):
    report = run_peer_phase(redis_url, "write")
    assert report["calls"] == {mode: 1 for mode in PEER_MODES}
    client = redis.Redis.from_url(redis_url)
    for mode, (entry_mode, _, _, encrypted, _) in PEER_MODES.items():
        key = ck.peer_key(mode)
        assert key in report["keys"], mode  # our key generation found Python's entry
        stored = client.get(key)
        aad_key = key
        inner = ck.decode(stored, entry_mode, aad_key, keyring if encrypted else None)
        assert msgpack.unpackb(inner, raw=False) == PEER_INNER, mode
        # What cachekit-py refuses, we refuse: plaintext under an encrypting reader, and the reverse.
        with pytest.raises(CachekitError) as refused:
            ck.decode(stored, entry_mode, aad_key, None if encrypted else keyring)
        if entry_mode != "interop":
            assert refused.value.status == (E_ENCRYPTED_ENTRY if encrypted else E_NOT_ENCRYPTED), mode
    assert len(report["keys"]) == len(PEER_MODES)


def test_libcachekit_writes_every_mode_and_python_reads_hits(ck, keyring, redis_url):
    client = redis.Redis.from_url(redis_url)
    ours = {}
    for mode, (entry_mode, _, _, encrypted, _) in PEER_MODES.items():
        value = {"from": "libcachekit", "mode": mode, "n": -7, "big": 2**63, "pi": 3.25, "bytes": b"\xff\x00",
                 "list": [None, True, "é"]}
        ours[mode] = value
        inner = msgpack.packb(value, use_bin_type=True)
        key = ck.peer_key(mode)
        stored = ck.encode(inner, entry_mode, key, keyring if encrypted else None)
        if mode == "secure":
            client.set(key, stored, ex=600)
        else:
            client.set(key, stored)
    report = run_peer_phase(redis_url, "read")
    assert report["calls"] == {mode: 0 for mode in PEER_MODES}, "cachekit-py recomputed instead of reading"
    for mode, value in ours.items():
        expected = dict(value, bytes={"$bin": "ff00"})
        assert report["results"][mode] == expected, mode


def test_python_rejects_an_entry_bound_to_another_key(ck, keyring, redis_url):
    """The AAD binds the full Redis key: an encrypted entry copied to another key is not a hit."""
    client = redis.Redis.from_url(redis_url)
    key = ck.peer_key("secure")
    other = ck.peer_key("plain")  # any other key
    inner = msgpack.packb({"x": 1})
    client.set(key, ck.encode(inner, "auto", other, keyring))
    with pytest.raises(CachekitError) as refused:
        ck.decode(client.get(key), "auto", key, keyring)
    assert refused.value.status == E_AUTHENTICATION_FAILED
    report = run_peer_phase(redis_url, "read")
    assert report["calls"]["secure"] == 1  # cachekit-py refused it too and recomputed
