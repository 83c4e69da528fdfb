"""The raw C ABI for tests: one signature table, statuses returned unchecked.

Functions the binding calls keep the binding's own signatures (cachekit_native._ffi.SIGNATURES);
TEST_SIGNATURES adds the ones only tests call. ``raw_library`` applies both to one CDLL and
leaves status-returning functions plain ``c_int``, so a test asserts the exact status. Library
strings and buffer data are ``c_void_p``: read them with ``string`` and ``take``.
"""
import ctypes
import os
import pathlib
import sys
from ctypes import POINTER, c_char_p, c_int, c_int64, c_size_t, c_uint, c_void_p

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
BINDINGS = ROOT / "bindings" / "python"
HEADER = ROOT / "include" / "cachekit.h"
VECTORS = ROOT / "Tests" / "vectors"  # cachekit 0.24.1's vectors, inside the repository

# The tree's package wins over an installed copy, so the tests always test this checkout.
if str(BINDINGS) not in sys.path:
    sys.path.insert(0, str(BINDINGS))

from cachekit_native import _ffi  # noqa: E402  (needs the path above)
from cachekit_native._ffi import STATUS, Buffer, BufferPointer  # noqa: E402
from cachekit_native.errors import error_for_status  # noqa: E402

OK, MISS = _ffi.OK, _ffi.MISS
P, SZ, STR = c_void_p, c_size_t, c_char_p

# name: (restype, argtypes), as in _ffi. Byte inputs are c_char_p or c_void_p: both take bytes.
TEST_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    # crypto (the keyring's calls and the AAD are in _ffi's table: serializers.py uses them)
    "cachekit_hkdf_sha256": (STATUS, [P, SZ, P, SZ, P, SZ, P, SZ]),
    "cachekit_derive_domain_key": (STATUS, [P, SZ, STR, STR, P]),
    "cachekit_key_fingerprint": (STATUS, [P, SZ, P]),
    "cachekit_keyring_from_env": (STATUS, [POINTER(P)]),
    "cachekit_keyring_fingerprint": (STATUS, [P, STR, SZ, P]),
    # MessagePack writer, keys and entries
    "cachekit_msgpack_writer_new": (STATUS, [POINTER(P)]),
    "cachekit_msgpack_writer_free": (None, [P]),
    "cachekit_msgpack_write_array": (STATUS, [P, SZ]),
    "cachekit_msgpack_write_int": (STATUS, [P, c_int64]),
    "cachekit_msgpack_writer_finish": (STATUS, [P, BufferPointer]),
    "cachekit_key_tenant_prefixed": (STATUS, [STR, STR, BufferPointer]),
    "cachekit_entry_encode": (STATUS, [STR, SZ, c_int, STR, P, STR, c_uint, BufferPointer]),
    "cachekit_entry_decode": (STATUS, [STR, SZ, c_int, STR, P, STR, c_uint, BufferPointer]),
    # cache: the bulk calls (get_many, set_many, delete_many) and cachekit_cache_ttl are in _ffi's table
    # coherence: the refresh-ahead callback (a cachekit_compute_fn; userdata is the tests' own)
    "cachekit_cache_refresher_set": (STATUS, [P, _ffi.ComputeFunction, P]),
    "cachekit_cache_node_health_get": (STATUS, [P, BufferPointer]),
}

SIGNATURES = {**_ffi.SIGNATURES, **TEST_SIGNATURES}


def library_path() -> str:
    path = os.environ.get("CACHEKIT_LIBRARY_PATH") or str(ROOT / ".build" / "release" / "libcachekit.so")
    if not os.path.exists(path):
        pytest.fail(f"libcachekit not built at {path}: run swift build -c release first")
    return path


def raw_library(path: str | None = None) -> ctypes.CDLL:
    """A CDLL of its own with every signature applied; statuses come back unchecked."""
    cdll = ctypes.CDLL(path or library_path())
    for name, (restype, argtypes) in SIGNATURES.items():
        function = getattr(cdll, name)
        function.argtypes = argtypes
        function.restype = c_int if restype is STATUS else restype
    return cdll


def string(pointer: int | None) -> str:
    """A library-owned NUL-terminated string (c_void_p result) as text."""
    return ctypes.string_at(pointer).decode("utf-8", "replace") if pointer else ""


def last_message(cdll: ctypes.CDLL) -> str:
    return string(cdll.cachekit_last_error_message())


def take(cdll: ctypes.CDLL, buffer: Buffer) -> bytes:
    """Copies a library-filled buffer and releases it."""
    data = ctypes.string_at(buffer.data, buffer.len) if buffer.len else b""
    cdll.cachekit_buffer_free(ctypes.byref(buffer))
    return data


def check(cdll: ctypes.CDLL, status: int) -> int:
    """Raises the binding's exception for a negative status, with the library's message."""
    if status < 0:
        raise error_for_status(status, string(cdll.cachekit_strerror(status)), last_message(cdll))
    return status
