"""cachekit-py's AutoSerializer (``serializer="auto"`` / ``"pythonic"``), byte for byte as cachekit
0.24.1 writes it (serializers/auto_serializer.py):
 - plain values: msgpack with ``strict_types=True`` and a default hook that marks tuples, sets and
   frozensets, UUIDs, temporal values and nested NumPy arrays and reduces builtin subclasses
   (IntEnum, OrderedDict, ...) to their base type; with integrity checking inside a ByteStorage
   envelope ("msgpack") that the library makes and checks (cachekit_envelope_store / _retrieve);
 - a NumPy array: ``NUMPY_RAW`` | dtype | shape | bytes, behind an xxHash3-64 with integrity on;
 - a pandas DataFrame: ArrowSerializer's entry when pyarrow is installed, else the columnar msgpack
   document ("dataframe" envelope); a Series: the columnar document ("series" envelope).
Header: format msgpack (arrow for a DataFrame through Arrow), compressed, original_type.
NumPy and pandas are never imported to write (a value of theirs means they are loaded) and
imported to read only the entries that hold them.
"""

from __future__ import annotations

import ctypes
import importlib
import sys
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
_ENVELOPE_FORMATS = frozenset({"msgpack", "dataframe", "series"})
_HEADER_FORMATS = _ENVELOPE_FORMATS | {"numpy", "arrow"}
_BUILTIN_TYPES = frozenset({dict, list, tuple, str, int, float, bool, bytes, type(None)})


def _import_for_decode(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise SerializationError(f"Cannot deserialize: {name} is not installed. "
                                 f"Install with: pip install 'cachekit[data]'") from error


def _dtype_from_untrusted(spec: Any, numeric_only: bool = False) -> Any:
    """np.dtype of a dtype the entry names, refusing what no writer emits (as cachekit-py: a zero
    datetime unit multiplier crashes pandas with SIGFPE)."""
    np = _import_for_decode("numpy")
    dtype = np.dtype(spec)
    if numeric_only and not _is_plain_numeric(dtype):
        raise SerializationError(f"Forged columnar dtype {str(dtype)[:512]}: the writer only emits plain NumPy "
                                 f"numeric columns")
    if dtype.kind in "Mm" and np.datetime_data(dtype)[1] == 0:
        raise SerializationError(f"Forged dtype {str(dtype)[:512]}: a zero datetime unit multiplier crashes pandas")
    return dtype


def _is_plain_numeric(dtype: Any) -> bool:
    pd = sys.modules.get("pandas")
    if pd is None:
        return False
    return not pd.api.types.is_extension_array_dtype(dtype) and dtype.kind in ("i", "u", "f")


def _column_trio(series: Any) -> dict[str, Any]:
    """One column's marker, as cachekit-py writes it (key order included)."""
    if _is_plain_numeric(series.dtype):
        return {"type": "numeric", "data": series.values.tobytes(), "dtype": str(series.dtype)}
    na_mask = series.isna().tolist()
    values = series.astype(object).tolist()
    return {"type": "object", "data": [None if is_na else value for is_na, value in zip(na_mask, values, strict=True)]}


def _expect(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise SerializationError(f"Forged columnar payload: {what} is {type(value).__name__}, expected {kind.__name__}")
    return value


def _column_values(info: dict[str, Any], what: str) -> Any:
    marker = info["type"]
    if marker == "numeric":
        np = _import_for_decode("numpy")
        return np.frombuffer(info["data"], dtype=_dtype_from_untrusted(info["dtype"], numeric_only=True)).copy()
    if marker == "object":
        return _expect(info["data"], list, f"{what} data")
    shown = marker if isinstance(marker, str) else type(marker).__name__
    raise SerializationError(f"Forged columnar payload: {what} type is {shown!r:.40}, expected 'numeric' or 'object'")


def _decode_columnar(document: Any, kind: str) -> Any:
    pd = _import_for_decode("pandas")
    serialized = _expect(document, dict, "document")
    if kind == "series":
        series = pd.Series(_column_values(serialized, "series"), name=serialized["name"])
        if serialized["index"] is not None:
            series.index = pd.Index(_expect(serialized["index"], list, "index"))
        return series
    columns = {}
    for column, info in _expect(serialized["data"], dict, "data").items():
        what = f"column {column!r:.40}"
        columns[column] = _column_values(_expect(info, dict, what), what)
    frame = pd.DataFrame(columns, columns=_expect(serialized["columns"], list, "columns"))
    if serialized["index"] is not None:
        frame.index = pd.Index(_expect(serialized["index"], list, "index"))
    return frame


def _numpy_raw(array: Any) -> bytes:
    dtype = str(array.dtype).encode("utf-8")
    shape = b"".join(dim.to_bytes(4, byteorder="little") for dim in array.shape)
    return (b"NUMPY_RAW" + len(dtype).to_bytes(2, "little") + dtype + len(shape).to_bytes(2, "little") + shape
            + array.tobytes())


def _parse_numpy_raw(data: bytes) -> Any:
    np = _import_for_decode("numpy")
    if data[:9] != b"NUMPY_RAW":
        raise SerializationError("Invalid NumPy data format - expected NUMPY_RAW header")
    try:
        offset = 9
        dtype_len = int.from_bytes(data[offset:offset + 2], "little")
        dtype_bytes = data[offset + 2:offset + 2 + dtype_len]
        offset += 2 + dtype_len
        shape_len = int.from_bytes(data[offset:offset + 2], "little")
        shape_data = data[offset + 2:offset + 2 + shape_len]
        offset += 2 + shape_len
        if len(dtype_bytes) != dtype_len or len(shape_data) != shape_len or shape_len % 4:
            raise SerializationError("Invalid NumPy data format - truncated or misaligned dtype/shape metadata")
        shape = tuple(int.from_bytes(shape_data[i:i + 4], "little") for i in range(0, shape_len, 4))
        return np.frombuffer(data[offset:], dtype=_dtype_from_untrusted(dtype_bytes.decode("utf-8"))).copy().reshape(shape)
    except (ValueError, TypeError, IndexError, SyntaxError) as error:
        if isinstance(error, SerializationError):
            raise
        raise SerializationError(f"Failed to deserialize NumPy array: {str(error)[:512]}") from error


def _has_attribute(obj: Any, name: str) -> bool:
    # As cachekit-py: object.__getattribute__, so no __getattr__ of the value runs.
    try:
        object.__getattribute__(obj, name)
        return True
    except Exception:
        return False


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
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, np.ndarray):
        return {"__ndarray__": True, "data": obj.tobytes(), "shape": list(obj.shape), "dtype": str(obj.dtype)}
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
        np = _import_for_decode("numpy")
        if "data" not in obj or "shape" not in obj or "dtype" not in obj:
            raise SerializationError("Invalid ndarray format: missing required fields in cached data")
        return np.frombuffer(obj["data"], dtype=_dtype_from_untrusted(obj["dtype"])).reshape(obj["shape"]).copy()
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


def _checksummed(data: bytes, magic: bytes) -> bool:
    """[8-byte xxHash3-64][magic...] whose digest matches the body (cachekit-py's _checksummed_prefix)."""
    from .serializers import _xxh3_digest

    end = 8 + len(magic)
    return len(data) > end and data[8:end] == magic and _xxh3_digest(data[8:]) == data[:8]


class AutoSerializer:
    """cachekit-py's AutoSerializer (module docstring)."""

    cross_sdk_compatible = False

    def __init__(self, enable_integrity_checking: bool = True):
        self.enable_integrity_checking = enable_integrity_checking
        self._arrow = None

    def _arrow_serializer(self) -> Any:
        """ArrowSerializer for DataFrames when pyarrow is installed (cachekit-py's choice), else None."""
        if self._arrow is None:
            from ._arrow_serializer import ArrowSerializer

            try:
                self._arrow = ArrowSerializer()
            except ImportError:
                self._arrow = False
        return self._arrow or None

    def _envelope(self, document: bytes, kind: str) -> bytes:
        if not self.enable_integrity_checking:
            return document
        out = _ffi.Buffer()
        library = _ffi.library()
        library.cachekit_envelope_store(document, len(document), kind.encode("ascii"), ctypes.byref(out))
        return library.take(out)

    def serialize(self, obj: Any):
        from .serializers import SerializationFormat, SerializationMetadata, _xxh3_digest

        integrity = self.enable_integrity_checking
        if type(obj) not in _BUILTIN_TYPES:
            np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
            if np is not None and isinstance(obj, np.ndarray):
                raw = _numpy_raw(obj)
                return (_xxh3_digest(raw) + raw if integrity else raw), SerializationMetadata(
                    serialization_format=SerializationFormat.MSGPACK, compressed=False, original_type="numpy")
            if pd is not None and isinstance(obj, pd.DataFrame):
                arrow = self._arrow_serializer()
                if arrow is not None:
                    return arrow.serialize(obj)
                index = obj.index.tolist() if obj.index.name or not obj.index.equals(pd.RangeIndex(len(obj))) else None
                document = {"columns": list(obj.columns), "index": index,
                            "data": {column: _column_trio(obj[column]) for column in obj.columns}}
                return self._columnar(document, "dataframe")
            if pd is not None and isinstance(obj, pd.Series):
                index = obj.index.tolist() if obj.index.name or not obj.index.equals(pd.RangeIndex(len(obj))) else None
                return self._columnar({"name": obj.name, "index": index, **_column_trio(obj)}, "series")
        try:
            document = msgpack.packb(obj, use_bin_type=True, strict_types=True, default=_default)
        except ValueError as error:
            raise SerializationError(f"Value cannot be packed as MessagePack: {str(error)[:512]}") from error
        if not integrity and document[:1] == b"\x94":  # cachekit-py never writes what its own reader refuses
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
        return self._envelope(document, "msgpack"), SerializationMetadata(
            serialization_format=SerializationFormat.MSGPACK, compressed=integrity, original_type="msgpack")

    def _columnar(self, document: dict, kind: str):
        from .serializers import SerializationFormat, SerializationMetadata

        packed = msgpack.packb(document, use_bin_type=True, strict_types=False, default=_default)
        return self._envelope(packed, kind), SerializationMetadata(
            serialization_format=SerializationFormat.MSGPACK, compressed=self.enable_integrity_checking,
            original_type=kind)

    def deserialize(self, data: bytes, metadata: Any = None) -> Any:
        """cachekit-py's reading order: NumPy and Arrow bodies by their checksummed magic, the
        header's format, then the envelope, then plain MessagePack."""
        data = bytes(data)
        header_format = getattr(metadata, "original_type", None)
        if header_format is not None and not isinstance(header_format, str):
            raise SerializationError(f"Cache entry header claims a {type(header_format).__name__} format, not a string")
        numpy_body = data if data.startswith(b"NUMPY_RAW") else data[8:] if _checksummed(data, b"NUMPY_RAW") else None
        if numpy_body is not None:
            if header_format not in (None, "numpy"):
                raise SerializationError(f"NumPy payload disagrees with header format {header_format!r:.40}")
            return _parse_numpy_raw(numpy_body)
        if header_format in (None, "arrow") and (data[:6] == b"ARROW1" or _checksummed(data, b"ARROW1")):
            arrow = self._arrow_serializer()
            if arrow is None:
                raise SerializationError("Cannot deserialize Arrow format: ArrowSerializer not available. "
                                         "Install with: pip install 'cachekit[data]'")
            return arrow.deserialize(data, metadata)
        integrity = self.enable_integrity_checking
        if metadata is not None:
            if not integrity and header_format not in _HEADER_FORMATS:
                raise SerializationError(f"Cache entry header claims format {header_format!r:.40}, which no writer emits")
            if header_format == "numpy":
                raise SerializationError("Invalid NumPy data format - expected NUMPY_RAW header")
            if getattr(metadata, "compressed", False) and not integrity:
                raise SerializationError("Cache entry was written with integrity checking on but this reader has "
                                         f"integrity checking disabled (format={header_format!r:.40})")
            if header_format in ("dataframe", "series") and not integrity:
                return self._decode(data, header_format)
        if integrity:
            out, tag = _ffi.Buffer(), ctypes.create_string_buffer(256)
            library = _ffi.library()
            try:
                library.cachekit_envelope_retrieve(data, len(data), ctypes.byref(out), tag, len(tag))
            except CachekitError as error:
                raise SerializationError(f"Cache entry failed envelope verification (corrupted cache entry): "
                                         f"{error.message[:512]}") from error
            document, kind = library.take(out), tag.value.decode("utf-8", "replace")
            if kind not in _ENVELOPE_FORMATS or (header_format is not None and header_format != kind):
                raise SerializationError(f"Cache entry failed envelope verification (corrupted cache entry): "
                                         f"envelope format {kind!r:.40} disagrees with header format "
                                         f"{header_format!r:.40}")
            return self._decode(document, kind)
        value = self._decode(data, "msgpack")
        if _looks_like_envelope(value):
            raise SerializationError("Cache entry failed envelope verification: decoded to a ByteStorage envelope "
                                     "shape that no reader verified")
        return value

    @staticmethod
    def _decode(document: bytes, kind: str) -> Any:
        try:
            value = _unpack(document)
            return value if kind == "msgpack" else _decode_columnar(value, kind)
        except _UNPACK_ERRORS as error:
            if isinstance(error, SerializationError):
                raise
            raise SerializationError(f"Cache entry is not a decodable MessagePack payload (msgpack: "
                                     f"{str(error)[:512]})") from error
