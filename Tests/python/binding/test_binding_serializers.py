"""serializer="orjson" and custom SerializerProtocol objects (serializers.py), live against the
real cachekit 0.24.1 through the session's redis-server: cachekit-py writes and cachekit_native
reads, the reverse, and the stored bytes compared; with encryption too; the same for "auto" and
"arrow". The refusals ('encrypted', unknown names, non-conforming objects, unmarked objects and
'auto' under encryption) are compared with cachekit-py's own exceptions.

orjson, pyarrow and pandas are imported here on purpose: without them in the test venv this
module fails, never skips.
"""
import logging
import uuid

import numpy  # noqa: F401  (AUTO_DATA_VALUES)
import orjson  # noqa: F401  (required: scripts/python-env.sh installs it)
import pandas
import pyarrow  # noqa: F401  (required, as orjson)
import pytest
import redis

from cachekit._rust_serializer import ByteStorage
from support.peer import MASTER_KEY, run_peer, shared

from cachekit_native import cache
from cachekit_native.errors import ConfigurationError
from cachekit_native.serializers import SerializationFormat, SerializationMetadata

VALUE = {"name": "Zoë", "n": [1, 2.5, None, True], "id": "7"}

# One custom serializer, the same class on both sides (its name is the frame's serializer name).
CUSTOM_CLASS = '''
import json as _json
class ReversedJSON:
    cross_sdk_compatible = True
    def serialize(self, obj):
        return _json.dumps(obj, sort_keys=True).encode()[::-1], SerializationMetadata(
            serialization_format=SerializationFormat.ORJSON, original_type="reversed-json")
    def deserialize(self, data, metadata=None):
        return _json.loads(bytes(data)[::-1])
'''
PEER_IMPORTS = "from cachekit.serializers.base import SerializationFormat, SerializationMetadata\n"
exec(CUSTOM_CLASS)  # defines ReversedJSON with cachekit_native's metadata types


def stored(redis_url) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return {key: client.get(key) for key in client.keys("t:default:*") if not key.startswith(b"t:default:ck:")}
    finally:
        client.close()


def flush(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()


CASES = {
    "orjson": ("'orjson'", "orjson"),
    "custom": ("ReversedJSON()", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("secure", [False, True], ids=["plain", "secure"])
def test_entries_are_shared_with_cachekit_py_both_ways(redis_url, case, secure, monkeypatch):
    expression, _ = CASES[case]
    decorator = "cache.secure" if secure else "cache"
    extra_env = {"CACHEKIT_MASTER_KEY": MASTER_KEY} if secure else None
    if secure:
        monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
    serializer = "orjson" if case == "orjson" else ReversedJSON()
    native_decorator = cache.secure if secure else cache
    # cachekit-py writes, cachekit_native reads.
    peer = run_peer(redis_url, PEER_IMPORTS + CUSTOM_CLASS + f"""
def fetch(user):
    calls.append(user)
    return {VALUE!r}
fetch = {decorator}(ttl=300, serializer={expression})(shared(fetch))
fetch("a")
out = {{"calls": calls, "second": fetch("a")}}
""", extra_env)
    assert peer["calls"] == ["a"] and peer["second"] == VALUE
    written_by_peer = stored(redis_url)
    assert len(written_by_peer) == 1
    calls = []

    def fetch(user):
        calls.append(user)
        return {"from": "native"}

    native = native_decorator(ttl=300, serializer=serializer, redis_url=redis_url)(shared(fetch))
    assert native("a") == VALUE and calls == []  # cachekit-py's entry, under the same key
    # cachekit_native writes, cachekit-py reads.
    flush(redis_url)
    native.cache_clear()

    def fetch_native(user):
        calls.append(user)
        return VALUE

    native = native_decorator(ttl=300, serializer=serializer, redis_url=redis_url)(shared(fetch_native, "fetch"))
    assert native("a") == VALUE and calls == ["a"]
    written_by_native = stored(redis_url)
    assert list(written_by_native) == list(written_by_peer)
    peer = run_peer(redis_url, PEER_IMPORTS + CUSTOM_CLASS + f"""
def fetch(user):
    calls.append(user)
    return {{"from": "python"}}
fetch = {decorator}(ttl=300, serializer={expression})(shared(fetch))
out = {{"value": fetch("a"), "calls": calls}}
""", extra_env)
    assert peer == {"value": VALUE, "calls": []}
    (peer_bytes,), (native_bytes,) = written_by_peer.values(), written_by_native.values()
    if not secure:
        assert native_bytes == peer_bytes  # byte for byte
    else:  # a fresh nonce each time: the same frame header, the same length
        header_length = 7 + int.from_bytes(native_bytes[3:7], "big")
        assert native_bytes[:header_length] == peer_bytes[:header_length]
        assert len(native_bytes) == len(peer_bytes) and native_bytes != peer_bytes
        assert b'"encrypted": true' in native_bytes[:header_length]


def test_orjson_without_integrity_checking_is_keyed_and_framed_as_cachekit_py(redis_url):
    peer = run_peer(redis_url, f"""
def plain(x):
    return {VALUE!r}
plain = cache(ttl=60, serializer="orjson", integrity_checking=False)(shared(plain))
plain(1)
out = {{}}
""")
    assert peer == {}
    written_by_peer = stored(redis_url)
    (key,) = written_by_peer
    assert key.endswith(b":0o")
    flush(redis_url)
    native = cache(ttl=60, serializer="orjson", integrity_checking=False, redis_url=redis_url)(
        shared(lambda x: VALUE, "plain"))
    assert native(1) == VALUE
    assert stored(redis_url) == written_by_peer


def test_a_value_the_serializer_refuses_is_returned_uncached_with_cachekit_pys_message(redis_url, caplog):
    runs = []
    native = cache(serializer="orjson", redis_url=redis_url)(lambda x: runs.append(x) or b"raw bytes")
    with caplog.at_level(logging.WARNING, logger="cachekit_native"):
        assert native(1) == b"raw bytes" and native(1) == b"raw bytes"
    assert runs == [1, 1] and stored(redis_url) == {}
    assert ("Failed to serialize data with orjson: Object of type bytes is not JSON-serializable. "
            "OrjsonSerializer supports: dict, list, str, int, float, bool, None, datetime, UUID") in caplog.text


def test_orjson_types_round_trip_as_json(redis_url):
    when = uuid.UUID("12345678-1234-5678-1234-567812345678")
    native = cache(serializer="orjson", redis_url=redis_url)(lambda x: {"id": when, "t": (1, 2)})
    assert native(1) == {"id": when, "t": (1, 2)}  # the computed value itself
    assert native(1) == {"id": str(when), "t": [1, 2]}  # read back as JSON gives it


def test_an_entry_of_another_serializer_is_a_miss_and_recomputed(redis_url):
    runs = []

    def shared_key(x):
        runs.append(x)
        return {"v": x}

    key_fn = lambda x: f"k{x}"  # noqa: E731  (one key for both decorators)
    as_json = cache(serializer="orjson", key=key_fn, redis_url=redis_url)(shared(shared_key))
    as_custom = cache(serializer=ReversedJSON(), key=key_fn, redis_url=redis_url)(shared(shared_key))
    assert as_json(1) == {"v": 1}
    assert as_custom(1) == {"v": 1} and runs == [1, 1]  # "Serializer mismatch": recomputed
    assert as_custom(1) == {"v": 1} and runs == [1, 1]


def test_a_tampered_encrypted_entry_is_a_miss(redis_url, monkeypatch):
    monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
    runs = []
    native = cache.secure(serializer="orjson", redis_url=redis_url, l1_enabled=False)(
        lambda x: runs.append(x) or {"v": x})
    assert native(1) == {"v": 1}
    client = redis.Redis.from_url(redis_url)
    ((key, value),) = stored(redis_url).items()
    client.set(key, value[:-1] + bytes([value[-1] ^ 1]))
    client.close()
    assert native(1) == {"v": 1} and runs == [1, 1]


def peer_error(redis_url, expression, decorator="cache", extra_env=None, options=""):
    """cachekit-py's exception type and message for a decorator it refuses."""
    return run_peer(redis_url, PEER_IMPORTS + CUSTOM_CLASS + f"""
class NotASerializer:
    def serialize(self, obj):
        return b"", None
try:
    {decorator}(serializer={expression}{options})(lambda x: x)
    out = {{"type": None}}
except Exception as error:
    out = {{"type": type(error).__name__, "message": str(error)}}
""", extra_env)


class NotASerializer:
    def serialize(self, obj):
        return b"", None


class Unmarked:
    def serialize(self, obj):
        return b"", SerializationMetadata(serialization_format=SerializationFormat.MSGPACK)

    def deserialize(self, data, metadata=None):
        return None


@pytest.mark.parametrize("expression, native_value", [
    ("NotASerializer()", NotASerializer()),
    ("ReversedJSON", ReversedJSON),
    ("'encrypted'", "encrypted"),
    ("'no-such-serializer'", "no-such-serializer"),
    ("'standard'", "standard"),
], ids=["not-a-protocol", "a-class", "encrypted", "unknown", "key-alias-only"])
@pytest.mark.parametrize("l1_only", [False, True], ids=["redis", "l1-only"])
def test_refusals_are_cachekit_pys(redis_url, expression, native_value, l1_only):
    peer = peer_error(redis_url, expression, options=", backend=None" if l1_only else "")
    with pytest.raises(Exception) as raised:
        cache(serializer=native_value, **({"backend": None} if l1_only else {"redis_url": redis_url}))(lambda x: x)
    assert type(raised.value).__name__ == peer["type"]
    assert str(raised.value) == peer["message"]


def test_an_unmarked_custom_serializer_is_refused_under_encryption_as_cachekit_py_refuses_it(redis_url, monkeypatch):
    monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
    peer = run_peer(redis_url, PEER_IMPORTS + """
class Unmarked:
    def serialize(self, obj):
        return b"", SerializationMetadata(serialization_format=SerializationFormat.MSGPACK)
    def deserialize(self, data, metadata=None):
        return None
try:
    cache.secure(serializer=Unmarked())(lambda x: x)
    out = {"type": None}
except Exception as error:
    out = {"type": type(error).__name__, "message": str(error)}
""", {"CACHEKIT_MASTER_KEY": MASTER_KEY})
    with pytest.raises(ConfigurationError) as raised:
        cache.secure(serializer=Unmarked(), redis_url=redis_url)(lambda x: x)
    assert peer["type"] == "ConfigurationError" and str(raised.value) == peer["message"]


@pytest.mark.parametrize("compression, secure", [("zstd", False), ("none", False), ("lz4", True)])
def test_arrow_entries_are_shared_with_cachekit_py_both_ways(redis_url, compression, secure, monkeypatch):
    monkeypatch.setenv("CACHEKIT_ARROW_COMPRESSION", compression)
    env = {"CACHEKIT_ARROW_COMPRESSION": compression}
    if secure:
        monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
        env["CACHEKIT_MASTER_KEY"] = MASTER_KEY
    decorator = "cache.secure" if secure else "cache"
    frame = {"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, 2.0]}
    body = f"""
import pandas as pd
def table(n):
    calls.append(n)
    return pd.DataFrame({frame!r})
table = {decorator}(ttl=300, serializer="arrow")(shared(table))
table(1)
out = {{"calls": calls, "second": table(1).to_dict("list")}}
"""
    peer = run_peer(redis_url, body, env)
    assert peer["calls"] == [1]
    written_by_peer = stored(redis_url)
    runs = []
    native_decorator = cache.secure if secure else cache
    native = native_decorator(ttl=300, serializer="arrow", redis_url=redis_url)(
        shared(lambda n: runs.append(n) or pandas.DataFrame({"a": [9]}), "table"))
    read = native(1)
    assert runs == [] and isinstance(read, pandas.DataFrame)
    pandas.testing.assert_frame_equal(read, pandas.DataFrame(frame))
    flush(redis_url)
    native.cache_clear()
    native = native_decorator(ttl=300, serializer="arrow", redis_url=redis_url)(
        shared(lambda n: runs.append(n) or pandas.DataFrame(frame), "table"))
    native(1)
    written_by_native = stored(redis_url)
    assert runs == [1] and list(written_by_native) == list(written_by_peer)
    (peer_bytes,), (native_bytes,) = written_by_peer.values(), written_by_native.values()
    header_length = 7 + int.from_bytes(native_bytes[3:7], "big")
    if secure:
        assert native_bytes[:header_length] == peer_bytes[:header_length] and len(native_bytes) == len(peer_bytes)
    else:
        assert native_bytes == peer_bytes
        if compression == "none":  # the header is padded so the IPC body is 64-byte aligned in a cache file
            assert (14 + header_length + 8) % 64 == 0 and native_bytes[header_length - 1:header_length] == b" "
    peer = run_peer(redis_url, body, env)
    assert peer["calls"] == [] and peer["second"] == pandas.DataFrame(frame).to_dict("list")


def test_arrow_refuses_what_is_not_a_table(redis_url, caplog):
    runs = []
    native = cache(serializer="arrow", redis_url=redis_url)(lambda x: runs.append(x) or [1, 2])
    with caplog.at_level(logging.WARNING, logger="cachekit_native"):
        assert native(1) == [1, 2]
    assert runs == [1] and stored(redis_url) == {}
    assert "ArrowSerializer only supports DataFrames (pandas.DataFrame, polars.DataFrame) or dict of arrays. " \
           "Got: list." in caplog.text


# AutoSerializer's markers: tuples, sets, frozensets, UUIDs, temporal values, builtin subclasses.
AUTO_VALUE_SOURCE = ("{'t': (1, (2, 'x')), 's': {3}, 'f': frozenset({'a'}), "
                     "'u': uuid.UUID('12345678-1234-5678-1234-567812345678'), "
                     "'when': datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), 'day': date(2024, 1, 2), "
                     "'b': b'raw', 'n': [None, True, 2.5, -7, 2**63], 'e': Level.HIGH}")


@pytest.mark.parametrize("name, integrity", [("auto", True), ("pythonic", True), ("auto", False)])
def test_auto_entries_are_shared_with_cachekit_py_both_ways(redis_url, name, integrity):
    from datetime import date, datetime, timezone  # noqa: F401  (AUTO_VALUE_SOURCE)
    from enum import IntEnum

    class Level(IntEnum):
        HIGH = 3

    value = eval(AUTO_VALUE_SOURCE)
    body = f"""
import uuid
from enum import IntEnum
class Level(IntEnum):
    HIGH = 3
def fetch(user):
    calls.append(user)
    return {AUTO_VALUE_SOURCE}
fetch = cache(ttl=300, serializer={name!r}, integrity_checking={integrity})(shared(fetch))
first = fetch("a")
out = {{"calls": calls, "second": repr(fetch("a"))}}
"""
    peer = run_peer(redis_url, body)
    written_by_peer = stored(redis_url)
    (key,) = written_by_peer
    assert key.endswith(b":1a" if integrity else b":0a") and peer["calls"] == ["a"]
    runs = []
    native = cache(ttl=300, serializer=name, integrity_checking=integrity, redis_url=redis_url)(
        shared(lambda user: runs.append(user) or {"from": "native"}, "fetch"))
    read = native("a")
    assert runs == [] and repr(read) == peer["second"]  # cachekit-py's entry, decoded as it decodes it
    assert read["t"] == (1, (2, "x")) and read["f"] == frozenset({"a"}) and read["e"] == 3
    flush(redis_url)
    native.cache_clear()
    native = cache(ttl=300, serializer=name, integrity_checking=integrity, redis_url=redis_url)(
        shared(lambda user: runs.append(user) or value, "fetch"))
    assert native("a") is value and runs == ["a"]
    assert stored(redis_url) == written_by_peer  # byte for byte
    peer = run_peer(redis_url, body)
    assert peer["calls"] == [] and peer["second"] == repr(read)


def test_auto_is_refused_under_encryption_as_cachekit_py_refuses_it(redis_url, monkeypatch):
    monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
    peer = peer_error(redis_url, "'auto'", "cache.secure", {"CACHEKIT_MASTER_KEY": MASTER_KEY})
    with pytest.raises(ConfigurationError) as raised:
        cache.secure(serializer="auto", redis_url=redis_url)(lambda x: x)
    assert peer["type"] == "ConfigurationError" and str(raised.value) == peer["message"]


def test_auto_refuses_what_cachekit_py_refuses(redis_url, caplog):
    class Custom:
        def __init__(self):
            self.x = 1

    runs = []
    native = cache(serializer="auto", redis_url=redis_url)(lambda x: runs.append(x) or Custom())
    with caplog.at_level(logging.WARNING, logger="cachekit_native"):
        native(1)
    assert runs == [1] and stored(redis_url) == {}
    assert "AutoSerializer does not support custom classes." in caplog.text


def test_l1_only_keeps_the_librarys_entries(redis_url):
    runs = []
    local = cache(serializer="orjson", backend=None)(lambda x: runs.append(x) or {"v": x})
    assert local(1) == {"v": 1} and local(1) == {"v": 1} and runs == [1]
    assert local._cachekit_native.pack is not None and local._cachekit_native.builder.serializer is None


def test_async_functions_read_and_write_the_same_entries(redis_url, monkeypatch):
    import asyncio

    monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
    peer = run_peer(redis_url, f"""
def fetch(user):
    return {VALUE!r}
fetch = cache.secure(ttl=300, serializer="orjson")(shared(fetch))
fetch("a")
out = {{}}
""", {"CACHEKIT_MASTER_KEY": MASTER_KEY})
    assert peer == {}
    runs = []

    async def fetch(user):
        runs.append(user)
        return {"user": user}

    native = cache.secure(ttl=300, serializer="orjson", redis_url=redis_url)(shared(fetch))

    async def calls():
        return await native("a"), await native("b"), await native("b")

    assert asyncio.run(calls()) == (VALUE, {"user": "b"}, {"user": "b"}) and runs == ["b"]
    peer = run_peer(redis_url, """
def fetch(user):
    calls.append(user)
    return None
fetch = cache.secure(ttl=300, serializer="orjson")(shared(fetch))
out = {"value": fetch("b"), "calls": calls}
""", {"CACHEKIT_MASTER_KEY": MASTER_KEY})
    assert peer == {"value": {"user": "b"}, "calls": []}


AUTO_DATA_VALUES = {
    "ndarray": "numpy.arange(12, dtype='float32').reshape(3, 4)",
    "nested-ndarray": "{'m': numpy.array([[1, 2], [3, 4]], dtype='int16'), 'k': 'v'}",
    "dataframe": "pandas.DataFrame({'a': [1, 2], 'b': ['x', None]})",
    "series": "pandas.Series([1.5, 2.5, None], name='s')",
}


@pytest.mark.parametrize("kind", sorted(AUTO_DATA_VALUES))
@pytest.mark.parametrize("integrity", [True, False], ids=["integrity", "minimal"])
def test_auto_numpy_and_pandas_values_are_shared_with_cachekit_py(redis_url, kind, integrity):
    source = AUTO_DATA_VALUES[kind]
    body = f"""
import numpy, pandas
def data(n):
    calls.append(n)
    return {source}
data = cache(ttl=300, serializer="auto", integrity_checking={integrity})(shared(data))
data(1)
out = {{"calls": calls, "second": repr(data(1))}}
"""
    peer = run_peer(redis_url, body)
    assert peer["calls"] == [1]
    written_by_peer = stored(redis_url)
    runs = []
    native = cache(ttl=300, serializer="auto", integrity_checking=integrity, redis_url=redis_url)(
        shared(lambda n: runs.append(n) or "not this", "data"))
    read = native(1)
    assert runs == [] and repr(read) == peer["second"]
    flush(redis_url)
    native.cache_clear()
    native = cache(ttl=300, serializer="auto", integrity_checking=integrity, redis_url=redis_url)(
        shared(lambda n: runs.append(n) or eval(source), "data"))
    native(1)
    written_by_native = stored(redis_url)
    assert runs == [1] and list(written_by_native) == list(written_by_peer)
    (peer_bytes,), (native_bytes,) = written_by_peer.values(), written_by_native.values()
    if native_bytes != peer_bytes:
        # Two LZ4 encoders agree byte for byte only on literal-only blocks (PROTOCOL.md): then the
        # same header, and envelopes holding the same document under the same checksum.
        header_length = 7 + int.from_bytes(native_bytes[3:7], "big")
        assert integrity and native_bytes[:header_length] == peer_bytes[:header_length]
        storage = ByteStorage("msgpack")
        assert storage.retrieve(native_bytes[header_length:]) == storage.retrieve(peer_bytes[header_length:])
    peer = run_peer(redis_url, body)
    assert peer["calls"] == [] and peer["second"] == repr(read)


def test_a_forked_child_seals_under_nonces_of_its_own(redis_url, monkeypatch):
    """AES-GCM under one key must never reuse a nonce: a child seals with a keyring of its own, not
    the inherited one (whose instance id and counter the parent goes on using)."""
    import os

    monkeypatch.setenv("CACHEKIT_MASTER_KEY", MASTER_KEY)
    native = cache.secure(serializer="orjson", redis_url=redis_url, l1_enabled=False)(lambda x: {"v": x})
    native("parent-first")
    pid = os.fork()
    if pid == 0:  # the child writes one entry and leaves without running the parent's cleanup
        try:
            native("child")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    native("parent-second")

    def nonce(entry: bytes) -> bytes:
        return entry[7 + int.from_bytes(entry[3:7], "big"):][:12]

    entries = list(stored(redis_url).values())
    assert len(entries) == 3 and len({nonce(entry) for entry in entries}) == 3


def test_the_deployment_uuid_is_the_encryption_tenant_both_ways(redis_url, monkeypatch):
    deployment = "8c1f6f3e-4b1a-4c9e-9a55-3f1d2a7b9e10"
    env = {"CACHEKIT_MASTER_KEY": MASTER_KEY, "CACHEKIT_DEPLOYMENT_UUID": deployment}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    peer = run_peer(redis_url, PEER_IMPORTS + CUSTOM_CLASS + """
def fetch(x):
    return {"from": "python"}
fetch = cache.secure(ttl=60, serializer=ReversedJSON())(shared(fetch))
fetch(1)
out = {}
""", env)
    assert peer == {}
    (entry,) = stored(redis_url).values()
    assert f'"tenant_id": "{deployment}"'.encode() in entry
    runs = []
    native = cache.secure(ttl=60, serializer=ReversedJSON(), redis_url=redis_url)(
        shared(lambda x: runs.append(x) or {"from": "native"}, "fetch"))
    assert native(1) == {"from": "python"} and runs == []
    assert native(2) == {"from": "native"}
    peer = run_peer(redis_url, PEER_IMPORTS + CUSTOM_CLASS + """
def fetch(x):
    calls.append(x)
    return None
fetch = cache.secure(ttl=60, serializer=ReversedJSON())(shared(fetch))
out = {"value": fetch(2), "calls": calls}
""", env)
    assert peer == {"value": {"from": "native"}, "calls": []}


@pytest.mark.parametrize("name, module, message", [
    ("orjson", "orjson", "orjson is not installed. OrjsonSerializer requires the [json] extra: "
                         "pip install 'cachekit[json]'"),
    ("arrow", "pyarrow", "pyarrow is not installed. ArrowSerializer requires the [data] extra: "
                         "pip install 'cachekit[data]'"),
])
def test_a_missing_optional_dependency_is_cachekit_pys_import_error(monkeypatch, name, module, message):
    import importlib

    from cachekit_native import _arrow_serializer

    real = importlib.import_module

    def without(requested, *args):
        if requested.split(".")[0] == module:
            raise ImportError(f"No module named {requested!r}")
        return real(requested, *args)

    monkeypatch.setattr(_arrow_serializer.importlib, "import_module", without)
    with pytest.raises(ImportError) as raised:
        cache(serializer=name, backend=None)
    assert str(raised.value) == message
