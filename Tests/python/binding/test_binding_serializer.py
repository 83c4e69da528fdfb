"""cachekit_native's value codec against cachekit 0.24.1's StandardSerializer, byte for byte."""
import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import msgpack
import pytest
from cachekit.interop import decode_interop_value, encode_interop_value
from cachekit.serializers.standard_serializer import StandardSerializer

from cachekit_native import serializer
from cachekit_native.serializer import InteropError, SerializationError

REFERENCE = StandardSerializer(enable_integrity_checking=False)

VALUES = [
    None, True, False, 0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, 2**32, 2**63 - 1, 2**64 - 1,
    -(2**63), 0.0, -0.0, 1.5, -2.25, 1e300, float("inf"), float("-inf"), "", "a", "é" * 40, "x" * 70000,
    b"", b"\x00\xff", bytes(300), bytes(70000), [], [1, [2, [3]]], (), (1, "two", b"3"), list(range(20)),
    {}, {"b": 1, "a": 2}, {"nested": {"list": [1, 2.5, None], "t": (True, False)}},
    {i: str(i) for i in range(20)}, {"k" * 40: "v" * 300},
    datetime(2024, 1, 15, 12, 30), datetime(2024, 1, 15, 12, 30, 0, 123456, tzinfo=timezone.utc),
    datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    date(2024, 2, 29), time(0, 0), time(23, 59, 59, 999999), time(12, 0, tzinfo=timezone.utc),
    {"when": datetime(2020, 5, 17, 1, 2, 3), "day": date(2020, 5, 17), "at": [time(1, 2, 3)]},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_pack_is_byte_identical_to_standard_serializer(value):
    expected, metadata = REFERENCE.serialize(value)
    assert serializer.pack(value) == expected
    assert metadata.original_type == "msgpack"


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_unpack_matches_standard_serializer(value):
    document, _ = REFERENCE.serialize(value)
    try:
        theirs = REFERENCE.deserialize(document)
    except Exception:  # cachekit refuses its own int-keyed maps on read (strict_map_key): so do we
        with pytest.raises(SerializationError):
            serializer.unpack(document)
        return
    ours = serializer.unpack(document)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(ours)
    else:
        assert ours == theirs
        assert type(ours) is type(theirs)


def test_temporal_sentinel_maps_are_cachekits():
    document = serializer.pack({"d": date(2024, 1, 2), "t": time(3, 4, 5, 6), "dt": datetime(2024, 1, 2, 3, 4)})
    raw = msgpack.unpackb(document)
    assert raw == {"d": {"__date__": True, "value": "2024-01-02"},
                   "t": {"__time__": True, "value": "03:04:05.000006"},
                   "dt": {"__datetime__": True, "value": "2024-01-02T03:04:00"}}


class Custom:
    pass


class BaseModel:  # what a Pydantic model looks like to cachekit's type-name check
    pass


class User(BaseModel):
    pass


@pytest.mark.parametrize("value", [Custom(), User(), {1, 2}, frozenset(), Decimal("1.5"),
                                   UUID(int=1), [1, object()], {"a": Custom()}, complex(1, 2)],
                         ids=lambda v: type(v).__name__)
def test_unsupported_types_raise_cachekits_type_error(value):
    with pytest.raises(TypeError) as theirs:
        REFERENCE.serialize(value)
    with pytest.raises(TypeError) as ours:
        serializer.pack(value)
    assert str(ours.value) == str(theirs.value)


def test_never_pickle():
    with pytest.raises(TypeError):
        serializer.pack(lambda: 1)


@pytest.mark.parametrize("document", [b"", b"\xc1", b"\x92\x01", b"\x01\x02", b"\xdc\xff\xff", b"\x81\xa1a"])
def test_malformed_documents_raise_serialization_error(document):
    with pytest.raises(SerializationError):
        serializer.unpack(document)


def test_sentinel_without_value_is_refused_like_cachekit():
    document = msgpack.packb({"__date__": True, "other": 1})
    with pytest.raises(SerializationError, match="missing 'value'"):
        serializer.unpack(document)


def test_huge_declared_container_is_refused_without_allocating():
    with pytest.raises(SerializationError):
        serializer.unpack(b"\xdd\xff\xff\xff\xff" + b"\xc0" * 8)


INTEROP_VALUES = [None, True, 0, -1, 2**64 - 1, -(2**63), 2.0, -0.0, 1.5, "s", b"b", [1, (2, 3)],
                  {"b": 1, "a": {"z": [], "y": {}}}, datetime(2024, 1, 1, tzinfo=timezone.utc),
                  date(2024, 1, 1), time(12, 0), {"k" * 20: list(range(40))}]


@pytest.mark.parametrize("value", INTEROP_VALUES, ids=lambda v: type(v).__name__)
def test_interop_values_match_cachekit(value):
    document = serializer.pack_interop(value)
    assert document == encode_interop_value(value)
    assert serializer.unpack_interop(document) == decode_interop_value(document)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1: 2}, {1, 2}, 2**64, Custom()],
                         ids=lambda v: type(v).__name__)
def test_interop_refusals(value):
    with pytest.raises(ValueError):
        encode_interop_value(value)
    with pytest.raises(InteropError):
        serializer.pack_interop(value)


def test_interop_reader_refuses_a_ck_frame():
    with pytest.raises(SerializationError, match="CK v3"):
        serializer.unpack_interop(b"CK\x03\x00\x00\x00\x02{}")
