"""The codec through ctypes, and envelope interop with the real cachekit package (its Rust
ByteStorage, cachekit-core) in both directions."""
import ctypes
import json
import os
import random

import pytest

from cachekit._rust_serializer import ByteStorage


class Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("len", ctypes.c_size_t)]


@pytest.fixture(scope="module")
def codec(lib):
    lib.cachekit_envelope_store.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                            ctypes.POINTER(Buffer)]
    lib.cachekit_envelope_store.restype = ctypes.c_int
    lib.cachekit_envelope_retrieve.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Buffer),
                                               ctypes.c_char_p, ctypes.c_size_t]
    lib.cachekit_envelope_retrieve.restype = ctypes.c_int
    lib.cachekit_buffer_free.argtypes = [ctypes.POINTER(Buffer)]
    lib.cachekit_buffer_free.restype = None
    lib.cachekit_last_error_message.restype = ctypes.c_char_p
    lib.cachekit_strerror.argtypes = [ctypes.c_int]
    lib.cachekit_strerror.restype = ctypes.c_char_p
    lib.cachekit_version_string.restype = ctypes.c_char_p
    lib.cachekit_version_number.restype = ctypes.c_uint
    return lib


def store(codec, data: bytes, fmt: bytes | None = None) -> bytes:
    out = Buffer()
    status = codec.cachekit_envelope_store(data, len(data), fmt, ctypes.byref(out))
    assert status == 0, codec.cachekit_last_error_message()
    try:
        return ctypes.string_at(out.data, out.len)
    finally:
        codec.cachekit_buffer_free(ctypes.byref(out))
        assert out.data is None and out.len == 0


def retrieve(codec, envelope: bytes) -> tuple[int, bytes | None, str]:
    out = Buffer()
    fmt = ctypes.create_string_buffer(256)
    status = codec.cachekit_envelope_retrieve(envelope, len(envelope), ctypes.byref(out), fmt, 256)
    if status != 0:
        assert out.data is None
        return status, None, codec.cachekit_last_error_message().decode()
    data = ctypes.string_at(out.data, out.len)
    codec.cachekit_buffer_free(ctypes.byref(out))
    return status, data, fmt.value.decode()


def test_smoke_version(codec):
    assert codec.cachekit_version_string().decode().count(".") == 2
    major, minor, patch = map(int, codec.cachekit_version_string().decode().split("."))
    assert codec.cachekit_version_number() == major * 10000 + minor * 100 + patch
    assert codec.cachekit_strerror(-14) == b"checksum mismatch: data is corrupted"


def test_all_wire_vectors_decode(codec, vectors_dir):
    vectors = json.loads((vectors_dir / "wire-format.json").read_text())["vectors"]
    assert len(vectors) == 12
    for vector in vectors:
        status, data, fmt = retrieve(codec, bytes.fromhex(vector["envelope_hex"]))
        assert status == 0, (vector["name"], fmt)
        assert data == bytes.fromhex(vector["input_hex"]), vector["name"]
        assert fmt == vector["format"]


SIZES = [0, 1, 15, 16, 100, 255, 256, 1000, 4096, 65535, 65536, 100_000, 1 << 20]


@pytest.mark.parametrize("size", SIZES)
def test_envelopes_we_write_are_read_by_cachekit(codec, size):
    rng = random.Random(size)
    payloads = [
        bytes(rng.getrandbits(8) for _ in range(min(size, 70_000))) + os.urandom(max(0, size - 70_000)),
        bytes(i % 7 for i in range(size)),
        (b'{"user_id": 12345, "name": "Alice"}' * (size // 36 + 1))[:size],
    ]
    storage = ByteStorage("msgpack")
    for payload in payloads:
        envelope = store(codec, payload)
        data, fmt = storage.retrieve(envelope)
        assert data == payload and fmt == "msgpack"


@pytest.mark.parametrize("size", SIZES)
def test_envelopes_cachekit_writes_are_read_by_us(codec, size):
    storage = ByteStorage("msgpack")
    for payload in (os.urandom(size), bytes(i % 251 for i in range(size)), b"A" * size):
        status, data, fmt = retrieve(codec, storage.store(payload, None))
        assert status == 0 and data == payload and fmt == "msgpack"


def test_literal_only_envelopes_match_cachekit_byte_for_byte(codec):
    storage = ByteStorage("msgpack")
    for size in (0, 1, 14, 15, 16, 64, 270, 1000, 4096):
        payload = os.urandom(size)  # incompressible: both encoders emit literals only
        assert store(codec, payload) == storage.store(payload, None), size


def test_custom_format_round_trips_with_cachekit(codec):
    storage = ByteStorage("msgpack")
    data, fmt = storage.retrieve(store(codec, b"payload", b"json"))
    assert (data, fmt) == (b"payload", "json")


def test_corruptions_are_refused_by_both(codec):
    storage = ByteStorage("msgpack")
    envelope = bytearray(store(codec, b"hello, cachekit! " * 20))
    rng = random.Random(7)
    for _ in range(300):
        corrupted = bytearray(envelope)
        index = rng.randrange(len(corrupted) - 7)  # the format text is not checksummed
        corrupted[index] ^= 1 << rng.randrange(8)
        status, data, message = retrieve(codec, bytes(corrupted))
        assert status != 0 or data == bytes(b"hello, cachekit! " * 20)
        if status != 0 and "trailing bytes" not in message:
            # cachekit-core ignores trailing bytes (a shortened format tag leaves some); we refuse
            # them by design. Every other corruption both readers refuse.
            with pytest.raises(Exception):
                storage.retrieve(bytes(corrupted))


def test_trailing_bytes_are_refused_though_cachekit_ignores_them(codec):
    envelope = store(codec, b"payload") + b"\x00"
    status, _, message = retrieve(codec, envelope)
    assert status == -11 and "trailing" in message
    assert ByteStorage("msgpack").retrieve(envelope)[0] == b"payload"


def test_error_messages_are_specific(codec):
    status, _, message = retrieve(codec, b"\x94")
    assert status == -11 and "truncated" in message
    status, _, message = retrieve(codec, b"")
    assert status == -11
