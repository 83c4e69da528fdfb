"""The codec through ctypes, and envelope interop with the real cachekit package (its Rust
ByteStorage, cachekit-core) in both directions."""
import ctypes
import json
import os
import random

import pytest

from cachekit._rust_serializer import ByteStorage

from support.abi import Buffer, last_message, string, take


def store(lib, data: bytes, fmt: bytes | None = None) -> bytes:
    out = Buffer()
    status = lib.cachekit_envelope_store(data, len(data), fmt, ctypes.byref(out))
    assert status == 0, last_message(lib)
    try:
        return take(lib, out)
    finally:
        assert out.data is None and out.len == 0


def retrieve(lib, envelope: bytes) -> tuple[int, bytes | None, str]:
    out = Buffer()
    fmt = ctypes.create_string_buffer(256)
    status = lib.cachekit_envelope_retrieve(envelope, len(envelope), ctypes.byref(out), fmt, 256)
    if status != 0:
        assert out.data is None
        return status, None, last_message(lib)
    return status, take(lib, out), fmt.value.decode()


def test_smoke_version(lib):
    version = string(lib.cachekit_version_string())
    assert version.count(".") == 2
    major, minor, patch = map(int, version.split("."))
    assert lib.cachekit_version_number() == major * 10000 + minor * 100 + patch
    assert string(lib.cachekit_strerror(-14)) == "checksum mismatch: data is corrupted"


def test_all_wire_vectors_decode(lib, vectors_dir):
    vectors = json.loads((vectors_dir / "wire-format.json").read_text())["vectors"]
    assert len(vectors) == 12
    for vector in vectors:
        status, data, fmt = retrieve(lib, bytes.fromhex(vector["envelope_hex"]))
        assert status == 0, (vector["name"], fmt)
        assert data == bytes.fromhex(vector["input_hex"]), vector["name"]
        assert fmt == vector["format"]


SIZES = [0, 1, 15, 16, 100, 255, 256, 1000, 4096, 65535, 65536, 100_000, 1 << 20]


@pytest.mark.parametrize("size", SIZES)
def test_envelopes_we_write_are_read_by_cachekit(lib, size):
    rng = random.Random(size)
    payloads = [
        bytes(rng.getrandbits(8) for _ in range(min(size, 70_000))) + os.urandom(max(0, size - 70_000)),
        bytes(i % 7 for i in range(size)),
        (b'{"user_id": 12345, "name": "Alice"}' * (size // 36 + 1))[:size],
    ]
    storage = ByteStorage("msgpack")
    for payload in payloads:
        envelope = store(lib, payload)
        data, fmt = storage.retrieve(envelope)
        assert data == payload and fmt == "msgpack"


@pytest.mark.parametrize("size", SIZES)
def test_envelopes_cachekit_writes_are_read_by_us(lib, size):
    storage = ByteStorage("msgpack")
    for payload in (os.urandom(size), bytes(i % 251 for i in range(size)), b"A" * size):
        status, data, fmt = retrieve(lib, storage.store(payload, None))
        assert status == 0 and data == payload and fmt == "msgpack"


def test_literal_only_envelopes_match_cachekit_byte_for_byte(lib):
    storage = ByteStorage("msgpack")
    for size in (0, 1, 14, 15, 16, 64, 270, 1000, 4096):
        payload = os.urandom(size)  # incompressible: both encoders emit literals only
        assert store(lib, payload) == storage.store(payload, None), size


def test_custom_format_round_trips_with_cachekit(lib):
    storage = ByteStorage("msgpack")
    data, fmt = storage.retrieve(store(lib, b"payload", b"json"))
    assert (data, fmt) == (b"payload", "json")


def test_corruptions_are_refused_by_both(lib):
    storage = ByteStorage("msgpack")
    envelope = bytearray(store(lib, b"hello, cachekit! " * 20))
    rng = random.Random(7)
    for _ in range(300):
        corrupted = bytearray(envelope)
        index = rng.randrange(len(corrupted) - 7)  # the format text is not checksummed
        corrupted[index] ^= 1 << rng.randrange(8)
        status, data, message = retrieve(lib, bytes(corrupted))
        assert status != 0 or data == bytes(b"hello, cachekit! " * 20)
        if status != 0 and "trailing bytes" not in message:
            # cachekit-core ignores trailing bytes (a shortened format tag leaves some); we refuse
            # them by design. Every other corruption both readers refuse.
            with pytest.raises(Exception):
                storage.retrieve(bytes(corrupted))


def test_trailing_bytes_are_refused_though_cachekit_ignores_them(lib):
    envelope = store(lib, b"payload") + b"\x00"
    status, _, message = retrieve(lib, envelope)
    assert status == -11 and "trailing" in message
    assert ByteStorage("msgpack").retrieve(envelope)[0] == b"payload"


def test_error_messages_are_specific(lib):
    status, _, message = retrieve(lib, b"\x94")
    assert status == -11 and "truncated" in message
    status, _, message = retrieve(lib, b"")
    assert status == -11
