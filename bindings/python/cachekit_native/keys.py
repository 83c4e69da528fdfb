"""Cache keys exactly as cachekit-py 0.24.1 builds them for the same module, qualname and arguments.

Auto mode (key_generator.py):
  [ns:{namespace}:]func:{module.qualname, sanitized}:args:{blake2b-256 hex}:{1|0}s
over msgpack [positional, sorted kwargs] after cachekit's normalization (maps sorted by key,
tuples as lists, -0.0 -> 0.0, Path/UUID/Decimal/Enum/aware datetime as cachekit maps them).
Interop mode (interop.py): {namespace}:{operation}:{blake2b-256 hex of the canonical flat
argument array}.

The library computes the keys (cachekit_key_auto, cachekit_key_interop): this module maps the
Python-only types to what cachekit hashes for them, binds interop arguments to the signature and
packs MessagePack. Two cases stay here: arguments that are all exact scalars (int, str, bytes,
bool, None), which need no normalizing, are hashed with Python's blake2b (a decorated function's
miss then crosses into the library once, for the lookup); and maps with non-string keys, which
the library refuses and cachekit-py sorts and hashes, go through ``args_hash`` below (the same
algorithm, checked against cachekit-py and the library in the tests).
"""

from __future__ import annotations

import ctypes
import hashlib
import inspect
import re
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any, Callable
from uuid import UUID

import msgpack

from . import _ffi, serializers
from .errors import InteropError, InvalidMapKeyError, ValueKeyError
from .serializer import PreEncoded, encode_canonical

MAX_KEY_LENGTH = 250
KEY_PREFIX_LENGTH = 50
_FUNC_NAME_MAX = 200
_FUNC_ALLOWED_RE = re.compile(r"[^A-Za-z0-9_.]")
_DOUBLE_DOT_RE = re.compile(r"\.{2,}")
_SEGMENT_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_RESERVED_NAMESPACES = frozenset({"ns", "nsapi"})

_blake2b = hashlib.blake2b
_packb = msgpack.packb


def function_id(function: Callable[..., Any]) -> str:
    """module.qualname with cachekit's sanitization ([^A-Za-z0-9_.] -> _, '..' collapsed, 200 max)."""
    raw = f"{function.__module__}.{function.__qualname__}"
    sanitized = _FUNC_ALLOWED_RE.sub("_", raw)
    if ".." in raw:
        sanitized = _DOUBLE_DOT_RE.sub(".", sanitized)
    return sanitized[:_FUNC_NAME_MAX]


def _normalize(obj: Any) -> Any:
    """cachekit's CacheKeyGenerator._normalize for the types it supports (numpy arrays excepted)."""
    kind = type(obj)
    if kind is int or kind is str or kind is bytes or kind is bool or obj is None:
        return obj
    if isinstance(obj, dict):
        return {key: _normalize(value) for key, value in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [_normalize(item) for item in obj]
    if isinstance(obj, float):
        return 0.0 if obj == 0.0 else obj
    if isinstance(obj, PurePath):
        return obj.as_posix()
    if isinstance(obj, (UUID, Decimal)):
        return str(obj)
    if isinstance(obj, Enum):
        return _normalize(obj.value)
    if isinstance(obj, datetime):
        if obj.tzinfo is None:
            raise TypeError("Naive datetime not allowed in cache keys (timezone ambiguity). "
                            "Use timezone-aware datetime: datetime(..., tzinfo=timezone.utc)")
        return obj.isoformat()
    if isinstance(obj, (int, str, bytes, bool)):
        return obj
    type_name = kind.__module__ + "." + kind.__qualname__
    if isinstance(obj, (set, frozenset)):
        raise TypeError("set/frozenset not supported in cache keys (mixed-type sorting crashes). "
                        "Convert to sorted list: sorted(list(your_set))")
    raise TypeError(f"Unsupported type '{type_name}' for cache key. "
                    f"Supported: dict, list, tuple, int, float, str, bytes, bool, None, "
                    f"Path, UUID, Decimal, Enum, datetime (UTC). For custom types, use key= parameter.")


def _is_plain(args: tuple) -> bool:
    """True when msgpack of args equals msgpack of their normalized form (exact scalars only)."""
    for arg in args:
        kind = type(arg)
        if not (kind is int or kind is str or kind is bytes or kind is bool or arg is None):
            return False
    return True


def packed_arguments(args: tuple, kwargs: dict) -> bytes:
    """msgpack [normalized positional, sorted normalized kwargs]: what cachekit's key hashes."""
    if not kwargs and _is_plain(args):
        return _packb([args, {}], use_bin_type=True)
    normalized_args = [_normalize(arg) for arg in args]
    normalized_kwargs = {key: _normalize(value) for key, value in sorted(kwargs.items())}
    try:
        return _packb([normalized_args, normalized_kwargs], use_bin_type=True, strict_types=True)
    except TypeError as error:
        raise TypeError(f"Unsupported type for cache key generation: {error}") from error


def args_hash(args: tuple, kwargs: dict) -> str:
    """Blake2b-256 hex of packed_arguments."""
    return _blake2b(packed_arguments(args, kwargs), digest_size=32).hexdigest()


def normalize_key(key: str) -> str:
    normalized = key.replace(" ", "_").replace("\n", "_").replace("\r", "_")
    if len(normalized) > MAX_KEY_LENGTH:
        digest = _blake2b(normalized.encode("utf-8"), digest_size=32).hexdigest()
        normalized = f"{normalized[:KEY_PREFIX_LENGTH]}:{digest[:32]}"
    return normalized


def _library_key(function, *arguments) -> str:
    out = _ffi.Buffer()
    function(*arguments, ctypes.byref(out))
    return _ffi.library().take(out).decode("utf-8")


class AutoKeyBuilder:
    """Keys for one decorated function (through cachekit_key_auto)."""

    __slots__ = ("prefix", "suffix", "needs_normalizing", "namespace", "function_id", "integrity", "key_auto",
                 "serializer")

    def __init__(self, function: Callable[..., Any], namespace: str | None, integrity: bool,
                 serializer: str | None = None):
        """serializer: None for the default, else cachekit-py's key identity (serializers.py)."""
        self.prefix = (f"ns:{namespace}:" if namespace else "") + f"func:{function_id(function)}:args:"
        self.suffix = (":1" if integrity else ":0") + (serializers.key_code(serializer) if serializer else "s")
        self.serializer = serializer.encode("utf-8", "surrogatepass") if serializer else None
        # Spaces, line breaks and over-long keys only come from the constant parts (the hash is hex).
        sample = self.prefix + "0" * 64 + self.suffix
        self.needs_normalizing = normalize_key(sample) != sample
        self.namespace = namespace.encode("utf-8") if namespace else None
        # The library sanitizes module.qualname itself, as cachekit-py does.
        self.function_id = f"{function.__module__}.{function.__qualname__}".encode("utf-8", "surrogatepass")
        self.integrity = 1 if integrity else 0
        self.key_auto = _ffi.library().cachekit_key_auto

    def key(self, args: tuple, kwargs: dict) -> str:
        if _is_plain(args) and (not kwargs or _is_plain(kwargs.values())):
            # Exact scalars need no normalizing, so cachekit's rule is Python's own blake2b over
            # msgpack [args, sorted kwargs]: no library crossing on a miss (test_binding_keys
            # checks it against the library's key).
            packed = _packb([args, dict(sorted(kwargs.items())) if kwargs else {}], use_bin_type=True)
            key = self.prefix + _blake2b(packed, digest_size=32).hexdigest() + self.suffix
            return normalize_key(key) if self.needs_normalizing else key
        return self.library_key(args, kwargs)

    def library_key(self, args: tuple, kwargs: dict) -> str:
        """The key through cachekit_key_auto (any arguments cachekit can key)."""
        try:
            packed_args = _packb([_normalize(arg) for arg in args], use_bin_type=True, strict_types=True)
            packed_kwargs = _packb({key: _normalize(value) for key, value in sorted(kwargs.items())},
                                   use_bin_type=True, strict_types=True)
        except TypeError as error:
            raise TypeError(f"Unsupported type for cache key generation: {error}") from error
        try:
            return _library_key(self.key_auto, self.namespace, self.function_id, packed_args, len(packed_args),
                                packed_kwargs, len(packed_kwargs), self.integrity, self.serializer)
        except InvalidMapKeyError:
            # A map keyed by ints (say): cachekit-py sorts and hashes it; the library refuses it.
            key = self.prefix + args_hash(args, kwargs) + self.suffix
            return normalize_key(key) if self.needs_normalizing else key
        except ValueKeyError as error:
            raise TypeError(f"Unsupported arguments for cache key generation: {error.message}") from error


# ----------------------------------------------------------------------------------------------
# Interop mode
# ----------------------------------------------------------------------------------------------

def validate_segment(name: str, segment: object) -> str:
    value = str.__str__(segment) if isinstance(segment, str) else segment
    if not isinstance(value, str) or not _SEGMENT_RE.fullmatch(value):
        raise InteropError(f"invalid interop {name} {value!r}: must full-string match "
                           f"^[a-z0-9][a-z0-9._-]{{0,63}}$ (lowercase ASCII letters, digits, '.', '_', '-'; 1-64 chars)")
    if ".." in value:
        raise InteropError(f"invalid interop {name} {value!r}: must not contain '..'")
    if name == "namespace" and value in _RESERVED_NAMESPACES:
        raise InteropError(f"invalid interop namespace {value!r}: reserved")
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _normalize_interop_arg(value: object) -> object:
    kind = type(value)
    if value is None or kind is bool:
        return value
    v: Any = value
    if issubclass(kind, str):
        return str.__str__(v)
    if issubclass(kind, int):
        return int.__int__(v)
    if issubclass(kind, float):
        return float.__float__(v)
    if issubclass(kind, bytes):
        return bytes.__getitem__(v, slice(None))
    if issubclass(kind, bytearray):
        return bytes(bytearray.__getitem__(v, slice(None)))
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise InteropError("naive datetimes are not allowed in interop arguments (timezone ambiguity)")
        delta = value - _EPOCH
        return ((delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds) / 1_000_000.0
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        encoded = set()
        for element in value:
            out = bytearray()
            encode_canonical(_normalize_interop_arg(element), out, collapse_floats=True)
            encoded.add(bytes(out))
        return PreEncoded(sorted(encoded))
    if isinstance(value, (list, tuple)):
        return [_normalize_interop_arg(item) for item in value]
    if isinstance(value, dict):
        normalized = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InteropError(f"interop map keys must be strings, got {type(key).__name__}")
            text = _normalize_interop_arg(key)
            if text in normalized:
                raise InteropError(f"interop map has duplicate key {text!r} after normalization")
            normalized[text] = _normalize_interop_arg(item)
        return normalized
    if isinstance(value, Enum):
        return _normalize_interop_arg(value.value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Decimal):
        return str(value)
    raise InteropError(f"type {kind.__name__} is not in the interop data model. Supported argument types: "
                       f"None, bool, int, float, str, bytes, list, tuple, dict (str keys), set, frozenset, "
                       f"tz-aware datetime, UUID, Enum, Path, Decimal.")


class InteropKeyBuilder:
    """{namespace}:{operation}:{hash of the flat bound argument array} (through cachekit_key_interop)."""

    __slots__ = ("prefix", "signature", "namespace", "operation", "key_interop")

    def __init__(self, function: Callable[..., Any], namespace: object, operation: object):
        # Checked here too, so a bad segment fails at decoration time, as in cachekit-py.
        operation = validate_segment("operation", operation)
        if namespace is None:
            raise InteropError('interop mode requires an explicit namespace: @cache(interop="get_user", '
                               'namespace="users")')
        namespace = validate_segment("namespace", namespace)
        self.prefix = f"{namespace}:{operation}:"
        self.namespace, self.operation = namespace.encode("ascii"), operation.encode("ascii")
        self.signature = inspect.signature(function)
        self.key_interop = _ffi.library().cachekit_key_interop

    def flat_arguments(self, args: tuple, kwargs: dict) -> list:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise InteropError(f"arguments do not bind to the function signature: {error}") from error
        bound.apply_defaults()
        flat: list = []
        for name, parameter in self.signature.parameters.items():
            if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                flat.append(list(bound.arguments.get(name, ())))
            elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
                flat.append(dict(bound.arguments.get(name, {})))
            else:
                flat.append(bound.arguments[name])
        return flat

    def key(self, args: tuple, kwargs: dict) -> str:
        # Python-only types (sets, datetimes, UUIDs, ...) become the interop data model here; the
        # library canonicalizes and hashes the array.
        out = bytearray()
        encode_canonical([_normalize_interop_arg(arg) for arg in self.flat_arguments(args, kwargs)], out,
                         collapse_floats=True)
        packed = bytes(out)
        try:
            return _library_key(self.key_interop, self.namespace, self.operation, packed, len(packed))
        except ValueKeyError as error:
            raise InteropError(f"interop key: {error.message}") from error
