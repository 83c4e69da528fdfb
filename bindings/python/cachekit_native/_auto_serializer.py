"""cachekit-py's AutoSerializer (``serializer="auto"`` / ``"pythonic"``) for plain Python values.

Its MessagePack path, byte for byte (cachekit 0.24.1 serializers/auto_serializer.py): msgpack with
``strict_types=True`` and a default hook that marks tuples, sets and frozensets, UUIDs and
temporal values and reduces builtin subclasses (IntEnum, OrderedDict, ...) to their base type; with
integrity checking the document goes into a ByteStorage envelope ("msgpack"), made and checked by
the library (cachekit_envelope_store / _retrieve). Header: format msgpack, compressed = integrity,
original_type "msgpack". Its NumPy, pandas and Arrow paths are not here: such a value is returned
uncached (TypeError, logged) and such an entry reads as a miss, each with a message saying so.
"""

from __future__ import annotations

import ctypes
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

import msgpack

from . import _ffi
from .errors import CachekitError, SerializationError
from .serializer import temporal_sentinel

# cachekit-py's messages (auto_serializer.py).
PYDANTIC_ERROR_MESSAGE = ("AutoSerializer does not support Pydantic models. Use .model_dump() to convert to dict: "
                          "result = model.model_dump()")
ORM_ERROR_MESSAGE = ("AutoSerializer does not support ORM models (SQLAlchemy, Django, etc.). Convert to dict or "
                     "implement a custom serializer.")
CUSTOM_CLASS_ERROR_MESSAGE = (
    "AutoSerializer does not support custom classes. "
    "Supported types: dict, list, tuple, str, int, float, bool, None, bytes, "
    "datetime, date, time, UUID, set, frozenset, NumPy arrays, pandas DataFrames.\n"
    "Options:\n"
    "  1. Convert to dict manually\n"
    "  2. Use dataclasses.asdict() for dataclasses\n"
    "  3. Write a custom serializer implementing SerializerProtocol")
NOT_HERE_MESSAGE = ("cachekit_native's AutoSerializer writes and reads its MessagePack values only: NumPy arrays, "
                    "pandas DataFrames and Series (and their entries) are not available here")
_ENVELOPE_FORMATS = frozenset({"msgpack", "dataframe", "series"})


def _has_attribute(obj: Any, name: str) -> bool:
    # As cachekit-py: object.__getattribute__, so no __getattr__ of the value runs.
    try:
        object.__getattribute__(obj, name)
        return True
    except Exception:
        return False


def _is_numpy_or_pandas(obj: Any) -> bool:
    module = type(obj).__module__ or ""
    return module == "numpy" or module.startswith(("numpy.", "pandas."))


def _default(obj: Any) -> Any:
    """cachekit-py's _auto_default, in its order (the packer runs with strict_types=True)."""
    if isinstance(obj, tuple):
        return {"__tuple__": True, "value": list(obj) if type(obj) is tuple else [x for x in obj]}  # noqa: C416
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items()}  # noqa: C416 - dict(obj.items()) can read it as a mapping
    if isinstance(obj, list):
        return [x for x in obj]  # noqa: C416 - list(obj) would call __len__
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, int) and type(obj) is not int and -(2**63) <= int.__int__(obj) < 2**64:
        return int.__int__(obj)
    if isinstance(obj, float):
        return float.__float__(obj)
    if isinstance(obj, bytes):
        return bytes.__getitem__(obj, slice(None))
    if isinstance(obj, bytearray):
        return bytes(bytearray.copy(obj))
    sentinel = temporal_sentinel(obj)
    if sentinel is not None:
        return sentinel
    if isinstance(obj, UUID):
        return {"__uuid__": True, "value": str(obj)}
    if isinstance(obj, (set, frozenset)):
        return {"__set__": True, "value": list(obj), "frozen": isinstance(obj, frozenset)}
    if _is_numpy_or_pandas(obj):
        raise TypeError(NOT_HERE_MESSAGE)
    if _has_attribute(obj, "model_dump"):
        raise TypeError(PYDANTIC_ERROR_MESSAGE)
    if _has_attribute(obj, "__tablename__"):
        raise TypeError(ORM_ERROR_MESSAGE)
    if _has_attribute(obj, "__dict__") and type(obj).__module__ != "builtins":
        raise TypeError(CUSTOM_CLASS_ERROR_MESSAGE)
    raise TypeError(f"Object of type {type(obj).__name__} is not MessagePack serializable")


def _required(obj: dict, kind: str) -> Any:
    if "value" not in obj:
        raise SerializationError(f"Invalid {kind} format: missing 'value' field in cached data")
    return obj["value"]


def _object_hook(obj: dict) -> Any:
    """cachekit-py's _auto_object_hook without its NumPy arm."""
    if obj.get("__datetime__") is True:
        return datetime.fromisoformat(_required(obj, "datetime"))
    if obj.get("__date__") is True:
        return date.fromisoformat(_required(obj, "date"))
    if obj.get("__time__") is True:
        return time.fromisoformat(_required(obj, "time"))
    if obj.get("__uuid__") is True:
        value = _required(obj, "UUID")
        try:
            return UUID(value)
        except (ValueError, TypeError) as error:
            raise SerializationError(f"Invalid UUID format in cached data: {str(value)[:512]}") from error
    for marker, kind in (("__tuple__", "tuple"), ("__set__", "set")):
        if obj.get(marker) is True:
            items = _required(obj, kind)
            if not isinstance(items, list):
                raise SerializationError(f"Invalid {kind} format: expected list, got {type(items).__name__}")
            if kind == "tuple":
                return tuple(items)
            return frozenset(items) if obj.get("frozen") else set(items)
    if obj.get("__ndarray__") is True:
        raise SerializationError(NOT_HERE_MESSAGE)
    return obj


def _looks_like_envelope(value: Any) -> bool:
    """cachekit-py's test for a decoded ByteStorage envelope with at most one slot rotted."""
    if not (isinstance(value, list) and len(value) == 4):
        return False
    payload_ok = isinstance(value[0], bytes)
    checksum_ok = isinstance(value[1], list) and len(value[1]) == 8 and all(
        type(b) is int and 0 <= b <= 255 for b in value[1])
    size_ok = type(value[2]) is int and value[2] >= 0
    format_ok = isinstance(value[3], str) and value[3] in _ENVELOPE_FORMATS
    return sum((payload_ok, checksum_ok, size_ok, format_ok)) >= 3


_UNPACK_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, BufferError, SyntaxError)


def _unpack(document: bytes) -> Any:
    # msgpack >= 1.0 caps every declared length at the input's; nesting is bounded by its C stack.
    return msgpack.unpackb(document, use_list=True, raw=False, object_hook=_object_hook)


class AutoSerializer:
    """cachekit-py's AutoSerializer for values without NumPy or pandas (module docstring)."""

    cross_sdk_compatible = False

    def __init__(self, enable_integrity_checking: bool = True):
        self.enable_integrity_checking = enable_integrity_checking

    def serialize(self, obj: Any):
        from .serializers import SerializationFormat, SerializationMetadata

        if _is_numpy_or_pandas(obj):
            raise TypeError(NOT_HERE_MESSAGE)
        try:
            document = msgpack.packb(obj, use_bin_type=True, strict_types=True, default=_default)
        except ValueError as error:
            raise SerializationError(f"Value cannot be packed as MessagePack: {str(error)[:512]}") from error
        if self.enable_integrity_checking:
            out = _ffi.Buffer()
            library = _ffi.library()
            library.cachekit_envelope_store(document, len(document), b"msgpack", ctypes.byref(out))
            payload = library.take(out)
        else:
            payload = document
            if document[:1] == b"\x94":  # cachekit-py never writes what its own reader refuses
                try:
                    decoded = _unpack(document)
                except _UNPACK_ERRORS as error:
                    raise SerializationError(f"Value cannot be cached by an AutoSerializer with integrity checking "
                                             f"off: its reader cannot decode it ({str(error)[:512]})") from error
                if _looks_like_envelope(decoded):
                    raise SerializationError(
                        "Value cannot be cached by an AutoSerializer with integrity checking off: it is a 4-element "
                        "list shaped like a ByteStorage envelope, which this serializer's reader refuses. Wrap it "
                        '(e.g. {"v": value}) or use the default serializer')
        return payload, SerializationMetadata(serialization_format=SerializationFormat.MSGPACK,
                                              compressed=self.enable_integrity_checking, original_type="msgpack")

    def deserialize(self, data: bytes, metadata: Any = None) -> Any:
        data = bytes(data)
        header_format = getattr(metadata, "original_type", None)
        if header_format not in (None, "msgpack"):
            raise SerializationError(f"{NOT_HERE_MESSAGE} (entry format {str(header_format)[:40]!r})")
        if self.enable_integrity_checking:
            out, tag = _ffi.Buffer(), ctypes.create_string_buffer(256)
            library = _ffi.library()
            try:
                library.cachekit_envelope_retrieve(data, len(data), ctypes.byref(out), tag, len(tag))
            except CachekitError as error:
                raise SerializationError(f"Cache entry failed envelope verification (corrupted cache entry): "
                                         f"{error.message[:512]}") from error
            document = library.take(out)
            if tag.value != b"msgpack":
                raise SerializationError(f"{NOT_HERE_MESSAGE} (envelope format {tag.value[:40]!r})")
        else:
            if getattr(metadata, "compressed", False):
                raise SerializationError("Cache entry was written with integrity checking on but this reader has "
                                         "integrity checking disabled (format='msgpack')")
            document = data
        try:
            value = _unpack(document)
        except _UNPACK_ERRORS as error:
            raise SerializationError(f"Cache entry is not a decodable MessagePack payload (msgpack: "
                                     f"{str(error)[:512]})") from error
        if not self.enable_integrity_checking and _looks_like_envelope(value):
            raise SerializationError("Cache entry failed envelope verification: decoded to a ByteStorage envelope "
                                     "shape that no reader verified")
        return value
