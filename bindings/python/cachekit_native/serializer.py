"""Values as cachekit's StandardSerializer stores them: MessagePack, never pickle.

``pack`` produces the inner MessagePack document byte for byte as cachekit 0.24.1's
StandardSerializer does before its ByteStorage wrapper (msgpack ``use_bin_type=True``,
``strict_types=False``, temporal values as two-key sentinel maps); ``unpack`` reads it back the
same way (``key``, the cache key, is unused: serializers.py's pairs need it for the AAD). The
envelope, the CK frame and encryption are the library's job. Unsupported types
raise TypeError with cachekit's messages; the decorator then returns the result uncached, as
cachekit-py does. ``pack_interop`` / ``unpack_interop`` are the interop/v1 value codec
(canonical MessagePack, string keys only).
"""

from __future__ import annotations

import math
import struct
from datetime import date, datetime, time
from typing import Any

import msgpack

from .errors import InteropError, SerializationError


SUPPORTED_TYPES = "None, bool, int, float, str, bytes, list, tuple, dict, datetime, date, time"

# cachekit's messages for the types it refuses (serializers/standard_serializer.py).
NUMPY_ERROR_MESSAGE = (
    "StandardSerializer does not support NumPy arrays (Python-specific type). "
    "Options:\n"
    "  1. AutoSerializer: Python-only caching with automatic NumPy optimization\n"
    "  2. ArrowSerializer: Multi-language support (Python/JavaScript/Java/R, NOT PHP) with 60%+ faster serialization"
)
PANDAS_ERROR_MESSAGE = (
    "StandardSerializer does not support pandas DataFrames or Series (Python-specific types). "
    "Use ArrowSerializer for multi-language DataFrame support (Python/JavaScript/Java/R, NOT PHP). "
    "ArrowSerializer is 60%+ faster than pickle for DataFrames and designed for cross-language interoperability."
)
PYDANTIC_ERROR_MESSAGE = (
    "StandardSerializer does not support Pydantic models (Python-specific type). "
    "Convert to dict before caching:\n\n"
    "    result = model.model_dump()  # Converts Pydantic model to dict\n"
    "    cache.set(key, result)       # Cache the dict\n\n"
    "This ensures compatibility with non-Python languages accessing the same cache."
)
ORM_ERROR_MESSAGE = (
    "StandardSerializer does not support ORM models like SQLAlchemy or Django models (Python-specific types). "
    "Extract fields explicitly to a dict:\n\n"
    "    result = {'id': user.id, 'name': user.name, 'email': user.email}\n"
    "    cache.set(key, result)\n\n"
    "This ensures compatibility with non-Python languages accessing the same cache."
)
CUSTOM_CLASS_ERROR_MESSAGE = (
    "StandardSerializer does not support custom classes (Python-specific types). "
    "Supported types: None, bool, int, float, str, bytes, list, tuple, dict, datetime, date, time\n\n"
    "Options:\n"
    "  1. Convert to dict manually: result = {'field1': obj.field1, 'field2': obj.field2}\n"
    "  2. Use dataclasses.asdict() for dataclasses: result = dataclasses.asdict(obj)\n"
    "  3. Use AutoSerializer if you only need Python-to-Python caching\n\n"
    "StandardSerializer prioritizes multi-language compatibility over convenience."
)


def temporal_sentinel(obj: Any) -> dict | None:
    """cachekit's sentinel map for a datetime, date or time (StandardSerializer and
    AutoSerializer write the same ones); None for anything else."""
    # datetime before date: datetime is a date subclass.
    if isinstance(obj, datetime):
        return {"__datetime__": True, "value": obj.isoformat()}
    if isinstance(obj, date):
        return {"__date__": True, "value": obj.isoformat()}
    if isinstance(obj, time):
        return {"__time__": True, "value": obj.isoformat()}
    return None


def _default(obj: Any) -> Any:
    """msgpack's hook for types it does not know: temporal sentinels, else cachekit's refusal."""
    sentinel = temporal_sentinel(obj)
    if sentinel is not None:
        return sentinel
    kind = type(obj)
    # Type names only: attribute probes (hasattr) could run arbitrary __getattr__ code.
    if kind.__module__ == "numpy" and kind.__name__ == "ndarray":
        raise TypeError(NUMPY_ERROR_MESSAGE)
    if (kind.__module__, kind.__name__) in (("pandas.core.frame", "DataFrame"), ("pandas.core.series", "Series")):
        raise TypeError(PANDAS_ERROR_MESSAGE)
    mro_names = [base.__name__ for base in kind.__mro__]
    if "BaseModel" in mro_names:
        raise TypeError(PYDANTIC_ERROR_MESSAGE)
    if any(name in ("Model", "DeclarativeBase", "Base") for name in mro_names):
        raise TypeError(ORM_ERROR_MESSAGE)
    if hasattr(kind, "__dict__") and kind.__module__ != "builtins":
        raise TypeError(CUSTOM_CLASS_ERROR_MESSAGE)
    raise TypeError(f"Object of type {kind.__name__} is not supported by StandardSerializer. "
                    f"Supported types: {SUPPORTED_TYPES}")


def _object_hook(obj: dict) -> Any:
    # Sentinels have exactly two keys; any other map is returned untouched without lookups.
    if len(obj) == 2:
        if obj.get("__datetime__"):
            return datetime.fromisoformat(_required_value(obj, "datetime"))
        if obj.get("__date__"):
            return date.fromisoformat(_required_value(obj, "date"))
        if obj.get("__time__"):
            return time.fromisoformat(_required_value(obj, "time"))
    return obj


def _required_value(obj: dict, kind: str) -> str:
    value = obj.get("value")
    if value is None:
        raise SerializationError(f"Invalid {kind} format: missing 'value' field in cached data")
    return value


_packer_options = {"use_bin_type": True, "strict_types": False, "default": _default}


def pack(value: Any, key: bytes | None = None) -> bytes:
    """The MessagePack document cachekit's StandardSerializer writes for value (before ByteStorage)."""
    try:
        return msgpack.packb(value, **_packer_options)
    except TypeError:
        raise
    except ValueError as error:  # msgpack's own limits (integer out of range, nesting)
        raise TypeError(f"Failed to serialize object to MessagePack: {error}") from error


_unpackb = msgpack.unpackb


def unpack(document: bytes, key: bytes | None = None) -> Any:
    """Decodes one document as cachekit's StandardSerializer does.

    msgpack >= 1.0 caps every declared string, binary, array and map length at the input length,
    so a hostile header cannot make it pre-allocate more than the document could back."""
    try:
        return _unpackb(document, object_hook=_object_hook)
    except SerializationError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, BufferError, SyntaxError) as error:
        raise SerializationError(f"Failed to deserialize MessagePack data: {error}") from error


# ----------------------------------------------------------------------------------------------
# interop/v1 values: canonical MessagePack (shortest forms, code-point-sorted string keys,
# floats always float64, NaN/Infinity refused), temporal values as sentinel maps.
# ----------------------------------------------------------------------------------------------

_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1
_F64_UPPER_EXCL = 18446744073709551616.0
_F64_LOWER_INCL = -9223372036854775808.0


def _encode_int(n: int, out: bytearray) -> None:
    if not _INT64_MIN <= n <= _UINT64_MAX:
        raise InteropError(f"integer out of interop range [-2^63, 2^64-1]: {n}")
    if 0 <= n <= 0x7F or -32 <= n < 0:
        out.append(n & 0xFF)
    elif n > 0:
        for marker, width in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
            if n < 1 << (8 * width):
                out.append(marker)
                out += n.to_bytes(width, "big")
                return
    else:
        for marker, width in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
            if n >= -(1 << (8 * width - 1)):
                out.append(marker)
                out += n.to_bytes(width, "big", signed=True)
                return


def _encode_length(n: int, out: bytearray, fix: int | None, fix_max: int, markers: tuple[int, ...], widths) -> None:
    if fix is not None and n <= fix_max:
        out.append(fix | n)
        return
    for marker, width in zip(markers, widths):
        if n < 1 << (8 * width):
            out.append(marker)
            out += n.to_bytes(width, "big")
            return
    raise InteropError("container or string too long for MessagePack")


def _encode_str(s: str, out: bytearray) -> None:
    try:
        data = s.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InteropError(f"interop strings must be well-formed Unicode (no lone surrogates): {error}") from error
    _encode_length(len(data), out, 0xA0, 31, (0xD9, 0xDA, 0xDB), (1, 2, 4))
    out += data


def encode_canonical(value: Any, out: bytearray, collapse_floats: bool) -> None:
    """The interop/v1 canonical encoder (both profiles: collapse_floats is the args profile)."""
    if value is None:
        out.append(0xC0)
    elif value is True or value is False:
        out.append(0xC3 if value else 0xC2)
    elif isinstance(value, int):
        _encode_int(value, out)
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise InteropError("NaN and Infinity are not allowed in interop mode")
        if collapse_floats and value.is_integer() and _F64_LOWER_INCL <= value < _F64_UPPER_EXCL:
            _encode_int(int(value), out)
        else:
            out.append(0xCB)
            out += struct.pack(">d", value)
    elif isinstance(value, str):
        _encode_str(value, out)
    elif isinstance(value, (bytes, bytearray)):
        _encode_length(len(value), out, None, 0, (0xC4, 0xC5, 0xC6), (1, 2, 4))
        out += value
    elif isinstance(value, PreEncoded):
        _encode_length(len(value.elements), out, 0x90, 15, (0xDC, 0xDD), (2, 4))
        for element in value.elements:
            out += element
    elif isinstance(value, (list, tuple)):
        _encode_length(len(value), out, 0x90, 15, (0xDC, 0xDD), (2, 4))
        for item in value:
            encode_canonical(item, out, collapse_floats)
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise InteropError(f"interop map keys must be strings, got {type(key).__name__}")
        _encode_length(len(value), out, 0x80, 15, (0xDE, 0xDF), (2, 4))
        for key in sorted(value):
            _encode_str(key, out)
            encode_canonical(value[key], out, collapse_floats)
    else:
        raise InteropError(f"type {type(value).__name__} is not in the interop data model")


class PreEncoded:
    """A set reduced to its sorted, deduplicated, already-encoded elements (interop arguments)."""
    __slots__ = ("elements",)

    def __init__(self, elements: list[bytes]):
        self.elements = elements


def _interop_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, bytes, bytearray)):
        return value
    if isinstance(value, datetime):
        return {"__datetime__": True, "value": value.isoformat()}
    if isinstance(value, date):
        return {"__date__": True, "value": value.isoformat()}
    if isinstance(value, time):
        return {"__time__": True, "value": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [_interop_value(item) for item in value]
    if isinstance(value, dict):
        normalized = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InteropError(f"interop value map keys must be strings, got {type(key).__name__}")
            normalized[key] = _interop_value(item)
        return normalized
    raise InteropError(
        f"type {type(value).__name__} cannot be an interop value. Interop values are plain "
        f"MessagePack readable by every SDK: None, bool, int, float, str, bytes, list, "
        f"tuple, dict (str keys), datetime/date/time (sentinel maps). Python-specific "
        f"types (sets, custom classes, NumPy/pandas) do not round-trip cross-SDK.")


def pack_interop(value: Any, key: bytes | None = None) -> bytes:
    """One canonical plain-MessagePack document (the interop/v1 value profile)."""
    out = bytearray()
    encode_canonical(_interop_value(value), out, collapse_floats=False)
    return bytes(out)


_MAX_NON_STRING_KEYS = 32


def _iso_utc(text: str) -> str:
    return text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text


def _interop_pairs(pairs) -> Any:
    pairs = list(pairs)
    if len(pairs) > _MAX_NON_STRING_KEYS and \
            sum(type(key) not in (str, bytes) for key, _ in pairs) > _MAX_NON_STRING_KEYS:
        raise SerializationError(f"stored value has a map with more than {_MAX_NON_STRING_KEYS} "
                                 "entries keyed by neither str nor bytes")
    obj = dict(pairs)
    if obj.get("__datetime__") is True and isinstance(obj.get("value"), str):
        return datetime.fromisoformat(_iso_utc(obj["value"]))
    if obj.get("__date__") is True and isinstance(obj.get("value"), str):
        return date.fromisoformat(obj["value"])
    if obj.get("__time__") is True and isinstance(obj.get("value"), str):
        return time.fromisoformat(_iso_utc(obj["value"]))
    return obj


def unpack_interop(document: bytes, key: bytes | None = None) -> Any:
    """Reads any one well-formed MessagePack document (canonical or not), reviving sentinels."""
    if document[:2] == b"CK":
        raise SerializationError("stored value is a cachekit-py auto-mode entry (CK v3 frame), not an "
                                 "interop value: every writer for this key must use interop mode")
    try:
        return msgpack.unpackb(document, raw=False, strict_map_key=False, object_pairs_hook=_interop_pairs)
    except SerializationError:
        raise
    except Exception as error:
        raise SerializationError(f"stored value is not a single well-formed MessagePack document: {error}") from error


