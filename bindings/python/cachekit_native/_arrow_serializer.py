"""cachekit-py's ArrowSerializer (``serializer="arrow"``): DataFrames and dicts of columns as an
Arrow IPC file, byte for byte as cachekit 0.24.1 writes it (serializers/arrow_serializer.py):
record batches of at most 8 MiB, the codec of ``compression`` ("auto": CACHEKIT_ARROW_COMPRESSION,
zstd by default), and xxHash3-64 of the IPC bytes in front (the library's cachekit_xxh3_64).
pyarrow (and pandas for DataFrames) are optional imports, with cachekit-py's ImportError message.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from .errors import SerializationError

_TARGET_BATCH_BYTES = 8 * 1024 * 1024


def optional_import(name: str, message: str) -> Any:
    """An optional dependency of a serializer, or ImportError with cachekit-py's message for it."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(message) from error


def _pyarrow():
    message = "pyarrow is not installed. ArrowSerializer requires the [data] extra: pip install 'cachekit[data]'"
    optional_import("pyarrow.ipc", message)
    return optional_import("pyarrow", message)


def _write_bounded_batches(writer: Any, table: Any) -> None:
    """cachekit-py's batching: the largest row count whose slice fits the byte target, found by
    binary search (a row wider than the target gets a batch of its own); the batch boundaries
    are part of the IPC bytes, so they must be the same as its."""
    offset, total = 0, table.num_rows
    while offset < total:
        lo, hi, rows = 2, total - offset, 1
        while lo <= hi:
            mid = (lo + hi) // 2
            if table.slice(offset, mid).nbytes <= _TARGET_BATCH_BYTES:
                rows, lo = mid, mid + 1
            else:
                hi = mid - 1
        writer.write_table(table.slice(offset, rows))
        offset += rows


class ArrowSerializer:
    """cachekit-py's ArrowSerializer (module docstring); ``return_format`` "pandas", "polars" or "arrow"."""

    cross_sdk_compatible = True

    def __init__(self, return_format: str = "pandas", enable_integrity_checking: bool = True,
                 compression: str | None = "auto"):
        self._pa = _pyarrow()
        if return_format not in ("pandas", "polars", "arrow"):
            raise ValueError(f"Invalid return_format: '{return_format}'. Valid options: 'pandas', 'polars', 'arrow'")
        self.return_format = return_format
        self.enable_integrity_checking = enable_integrity_checking  # as cachekit-py: the checksum is always written
        if compression == "auto":
            compression = os.environ.get("CACHEKIT_ARROW_COMPRESSION", "zstd").strip().lower() or "zstd"
        if compression in (None, "none"):
            compression = None
        elif compression not in ("zstd", "lz4"):
            raise ValueError(f"Invalid compression: {compression!r}. Valid options: 'auto', 'zstd', 'lz4', None ('none').")
        self.compression = compression

    def _to_table(self, obj: Any) -> Any:
        pa = self._pa
        if type(obj).__module__.startswith("pandas.") and type(obj).__name__ == "DataFrame":
            return pa.Table.from_pandas(obj, preserve_index=None)
        if hasattr(obj, "__arrow_c_stream__"):  # polars
            return pa.table(obj)
        if isinstance(obj, dict):
            try:
                for name, column in obj.items():
                    if isinstance(column, (str, bytes, bytearray, Mapping)) and not (
                            hasattr(column, "__arrow_array__") or hasattr(column, "__arrow_c_array__")):
                        raise TypeError(f"value for {name!r} is {type(column).__name__}, not a list or array")
                return pa.table(obj)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as error:
                raise TypeError(f"ArrowSerializer only supports DataFrames (pandas.DataFrame, polars.DataFrame) or "
                                f"dict of arrays (columnar). Got a dict that is not convertible to an Arrow table: "
                                f"{error}. For scalar values or nested dicts, use AutoSerializer.") from error
        raise TypeError(f"ArrowSerializer only supports DataFrames (pandas.DataFrame, polars.DataFrame) or dict of "
                        f"arrays. Got: {type(obj).__name__}. For scalar values or nested dicts, use AutoSerializer.")

    def serialization_metadata(self):
        from .serializers import SerializationFormat, SerializationMetadata

        return SerializationMetadata(serialization_format=SerializationFormat.ARROW,
                                     compressed=self.compression is not None, encrypted=False, original_type="arrow")

    def serialize(self, obj: Any):
        from .serializers import _xxh3_digest

        pa = self._pa
        try:
            table = self._to_table(obj)
            sink = pa.BufferOutputStream()
            options = pa.ipc.IpcWriteOptions(compression=self.compression) if self.compression else None
            with pa.ipc.new_file(sink, table.schema, options=options) as writer:
                _write_bounded_batches(writer, table)
            ipc = sink.getvalue().to_pybytes()
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as error:
            raise SerializationError(f"Failed to serialize DataFrame to Arrow IPC format: {error}") from error
        return _xxh3_digest(ipc) + ipc, self.serialization_metadata()

    def deserialize(self, data: bytes, metadata: Any = None) -> Any:
        from .serializers import _xxh3_digest

        data = bytes(data)
        if len(data) >= 14 and data[8:14] == b"ARROW1":
            body = data[8:]
            if _xxh3_digest(body) != data[:8]:
                raise SerializationError("Checksum validation failed - data corruption detected")
        elif len(data) >= 6 and data[:6] == b"ARROW1":
            if metadata is not None and getattr(metadata, "encrypted", False):
                raise SerializationError("Invalid data: decrypted Arrow payload lacks the checksum prefix")
            body = data
        else:
            raise SerializationError(f"Invalid data: not a recognized Arrow envelope (expected [8-byte checksum]"
                                     f"[Arrow IPC] or raw Arrow IPC); got {len(data)} bytes")
        pa = self._pa
        try:
            reader = pa.ipc.open_file(pa.py_buffer(body))
            table = reader.read_all()
            if self.return_format == "pandas":
                if reader.num_record_batches == 1:
                    table = pa.concat_tables([table.slice(0, 0), table])
                return table.to_pandas(self_destruct=True, split_blocks=True)
            if self.return_format == "polars":
                try:
                    import polars as pl
                except ImportError as error:
                    raise SerializationError("polars not installed. Install with: pip install polars") from error
                return pl.from_arrow(table)
            return table
        except (pa.ArrowInvalid, pa.ArrowSerializationError, OSError) as error:
            raise SerializationError(f"Failed to deserialize Arrow IPC data: {error}") from error
