"""cachekit-py's other serializers: "auto", "orjson", "arrow" and SerializerProtocol objects.

Their entries are what cachekit 0.24.1 writes, byte for byte: the CK v3 frame
(``"CK" | 3 | u32be(header length) | JSON header | payload``) whose header names the serializer
(the class name for an object) and carries the serializer's metadata, around the serializer's
own bytes (orjson: xxHash3-64 of the JSON, then the JSON; no ByteStorage envelope). Encrypted
(``@cache.secure``, ``encryption=True``) the payload is nonce || AES-256-GCM || tag under the AAD
v0x03 of the full Redis key, the metadata's format, compressed and original_type, as
cachekit-py's EncryptionWrapper seals it. The library does the checksum, the AAD and the
encryption (cachekit_xxh3_64, cachekit_aad_v3, a keyring) and keeps these entries in both tiers
as given (the cache option ``verbatim_entries``); this module builds and reads the frame.

``"default"``/``"std"`` stay on the library's own entry codec (serializer.py); ``"auto"`` is
_auto_serializer.py (its MessagePack values; the envelope is the library's), ``"arrow"``
_arrow_serializer.py (Arrow IPC through pyarrow).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import uuid
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from . import _ffi
from ._arrow_serializer import ArrowSerializer, _pyarrow, optional_import
from ._auto_serializer import AutoSerializer
from .errors import (CachekitError, ConfigurationError, DecryptionAuthenticationError, EncryptionError,
                     SerializationError)


# ----------------------------------------------------------------------------------------------
# cachekit-py's serializer types (cachekit/serializers/base.py), so a custom serializer written
# for it runs unchanged against ``cachekit_native.serializers``.
# ----------------------------------------------------------------------------------------------

class SerializationFormat(Enum):
    MSGPACK = "msgpack"
    ORJSON = "orjson"
    ARROW = "arrow"


class SerializationMetadata:
    """What a serializer says about its bytes; ``to_dict`` is the frame header's ``"m"``."""

    def __init__(self, serialization_format: SerializationFormat, encoding: str = "utf-8", compressed: bool = False,
                 original_type: str | None = None, encrypted: bool = False, tenant_id: str | None = None,
                 encryption_algorithm: str | None = None, key_fingerprint: str | None = None):
        self.format = serialization_format
        self.encoding = encoding
        self.compressed = compressed
        self.original_type = original_type
        self.encrypted = encrypted
        self.tenant_id = tenant_id
        self.encryption_algorithm = encryption_algorithm
        self.key_fingerprint = key_fingerprint

    def to_dict(self) -> dict[str, Any]:
        data = {"format": self.format.value, "encoding": self.encoding, "compressed": self.compressed,
                "original_type": self.original_type}
        if self.encrypted:
            data.update({"encrypted": self.encrypted, "tenant_id": self.tenant_id,
                         "encryption_algorithm": self.encryption_algorithm, "key_fingerprint": self.key_fingerprint})
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SerializationMetadata:
        return cls(serialization_format=SerializationFormat(data["format"]), encoding=data.get("encoding", "utf-8"),
                   compressed=data.get("compressed", False), original_type=data.get("original_type"),
                   encrypted=data.get("encrypted", False), tenant_id=data.get("tenant_id"),
                   encryption_algorithm=data.get("encryption_algorithm"), key_fingerprint=data.get("key_fingerprint"))


@runtime_checkable
class SerializerProtocol(Protocol):
    def serialize(self, obj: Any) -> tuple[bytes, SerializationMetadata]: ...

    def deserialize(self, data: bytes, metadata: Any = None) -> Any: ...


# ----------------------------------------------------------------------------------------------
# OrjsonSerializer, as cachekit 0.24.1's (serializers/orjson_serializer.py)
# ----------------------------------------------------------------------------------------------

def _xxh3_digest(data: bytes) -> bytes:
    """xxHash3-64 as xxhash.xxh3_64_digest gives it (big-endian), computed by the library."""
    out = ctypes.c_uint64()
    _ffi.library().cachekit_xxh3_64(data, len(data), ctypes.byref(out))
    return out.value.to_bytes(8, "big")


def _orjson():
    return optional_import("orjson", "orjson is not installed. OrjsonSerializer requires the [json] extra: "
                                     "pip install 'cachekit[json]'")


class OrjsonSerializer:
    """JSON through orjson, with cachekit-py's 8-byte xxHash3-64 prefix when integrity checking is on."""

    cross_sdk_compatible = True

    def __init__(self, option: int | None = None, enable_integrity_checking: bool = True):
        self._orjson = _orjson()
        self.option = self._orjson.OPT_SORT_KEYS if option is None else option
        self.enable_integrity_checking = enable_integrity_checking

    def serialize(self, obj: Any) -> tuple[bytes, SerializationMetadata]:
        try:
            json_data = self._orjson.dumps(obj, option=self.option)
        except TypeError as error:
            raise TypeError(f"Object of type {type(obj).__name__} is not JSON-serializable. "
                            f"OrjsonSerializer supports: dict, list, str, int, float, bool, None, datetime, UUID") from error
        except ValueError as error:
            raise SerializationError(f"Failed to serialize object to JSON: {error}") from error
        payload = _xxh3_digest(json_data) + json_data if self.enable_integrity_checking else json_data
        return payload, SerializationMetadata(serialization_format=SerializationFormat.ORJSON, compressed=False,
                                              encrypted=False, original_type="orjson")

    def deserialize(self, data: bytes | memoryview, metadata: SerializationMetadata | None = None) -> Any:
        data = bytes(data)
        try:
            if not self.enable_integrity_checking:
                return self._orjson.loads(data)
            if len(data) < 10:
                raise SerializationError(f"Invalid data: Expected at least 10 bytes (8-byte checksum + 2-byte JSON), "
                                         f"got {len(data)} bytes")
            json_data = data[8:]
            if _xxh3_digest(json_data) != data[:8]:
                raise SerializationError("Checksum validation failed - data corruption detected")
            return self._orjson.loads(json_data)
        except ValueError as error:  # orjson.JSONDecodeError is a ValueError
            if isinstance(error, SerializationError):
                raise
            raise SerializationError(f"Failed to deserialize JSON data: {error}") from error


# ----------------------------------------------------------------------------------------------
# Resolving serializer= as cachekit-py does
# ----------------------------------------------------------------------------------------------

# cachekit-py's names (SERIALIZER_REGISTRY) and alias spellings (CacheKeyGenerator).
REGISTRY_NAMES = ("auto", "pythonic", "default", "std", "arrow", "orjson", "encrypted")
ALIASES = {"std": "default", "standard": "default", "pythonic": "auto"}
# Allowed under encryption (cachekit-py's CROSS_SDK_SERIALIZER_NAMES).
CROSS_SDK_NAMES = ("default", "std", "standard", "orjson", "arrow")
CUSTOM_PREFIX = "<custom>:"
_KEY_CODES = {"default": "s", "auto": "a", "orjson": "o", "arrow": "w", "local": "l"}

ENCRYPTING_SERIALIZER_REFUSAL = (
    "EncryptionWrapper (or the serializer name 'encrypted') cannot be a cache decorator's serializer: "
    "the decorator never gives it the cache key each ciphertext is bound to, so it would never store an "
    "entry. To encrypt, use @cache.secure(master_key=..., serializer=...) with the inner serializer "
    "(omit serializer= for the default MessagePack); it builds the EncryptionWrapper itself.")


# cachekit-py's refusal of an encrypting serializer with backend=None, which comes first.
L1_ONLY_ENCRYPTION_REFUSAL = (
    "encryption requires a backend: backend=None is L1-only and stores raw Python "
    "objects, which cannot be ciphertext. Drop backend=None (the backend then "
    "resolves from set_default_backend(), else the one CACHEKIT_* selector set: "
    "CACHEKIT_API_KEY, CACHEKIT_REDIS_URL, CACHEKIT_MEMCACHED_SERVERS or "
    "CACHEKIT_FILE_CACHE_DIR, else REDIS_URL / localhost Redis; see "
    "docs/backends/README.md) or pass one explicitly to keep @cache.secure / "
    "encryption=True.")


def key_code(key_name: str) -> str:
    """The serializer code of cachekit-py's key suffix (``:1o``, ``:1x1a2b``)."""
    canonical = ALIASES.get(key_name, key_name)
    return _KEY_CODES.get(canonical) or "x" + hashlib.blake2b(canonical.encode("utf-8"), digest_size=2).hexdigest()


def is_default(serializer: Any) -> bool:
    return isinstance(serializer, str) and ALIASES.get(serializer, serializer) == "default"


def check(serializer: Any, l1_only: bool = False) -> None:
    """cachekit-py's decoration-time refusals and messages."""
    if l1_only and (serializer == "encrypted" or type(serializer).__name__ == "EncryptionWrapper"):
        raise ConfigurationError(L1_ONLY_ENCRYPTION_REFUSAL)
    if isinstance(serializer, str):
        if serializer == "encrypted":
            raise ConfigurationError(ENCRYPTING_SERIALIZER_REFUSAL)
        if serializer not in REGISTRY_NAMES:  # "standard" is a key alias only, not a registry name
            raise ValueError(f"Unknown serializer: '{serializer}'. Valid options: {', '.join(REGISTRY_NAMES)}. "
                             f"To use a custom serializer, pass instance directly: @cache(serializer=MySerializer()) "
                             f"For encryption, use encryption=True parameter (not serializer='encrypted').")
        canonical = ALIASES.get(serializer, serializer)
        if canonical == "arrow":
            _pyarrow()
        if canonical == "orjson":
            _orjson()
        return
    if isinstance(serializer, type):
        raise TypeError(f"serializer must be an instance, not the class {serializer.__name__}: "
                        f"pass {serializer.__name__}(), not {serializer.__name__}")
    if not isinstance(serializer, SerializerProtocol):
        raise TypeError(f"serializer must be a string name or SerializerProtocol instance, got "
                        f"{type(serializer).__name__}. Valid string names: 'default', 'arrow', 'orjson'. "
                        f"For custom serializers, implement SerializerProtocol.")
    if getattr(type(serializer), "__name__", "") == "EncryptionWrapper":
        raise ConfigurationError(ENCRYPTING_SERIALIZER_REFUSAL)


def check_encryptable(serializer: Any) -> None:
    """cachekit-py's ENC-2 rule: under encryption only serializers that decode one fixed format."""
    if isinstance(serializer, str):
        if serializer not in CROSS_SDK_NAMES:
            raise ConfigurationError(
                f"Encryption requires a serializer that decodes one fixed format after decryption (protocol ENC-2), "
                f"got serializer='{serializer}'. Allowed under encryption: {', '.join(CROSS_SDK_NAMES)}. The 'auto' "
                f"serializer chooses its decoder by inspecting the bytes, so it cannot be used with encryption.")
    elif not getattr(type(serializer), "cross_sdk_compatible", False):
        raise ConfigurationError(
            f"Encryption requires a serializer that decodes one fixed format after decryption (protocol ENC-2). "
            f"The serializer instance '{type(serializer).__name__}' does not declare "
            f"cross_sdk_compatible=True. Use StandardSerializer (the default), OrjsonSerializer or "
            f"ArrowSerializer. Set the cross_sdk_compatible ClassVar to True only on a custom serializer "
            f"that keeps this rule: after decryption (metadata.encrypted is true), deserialize decodes the one "
            f"container its configuration fixes and raises when the bytes do not parse as it, never returning a "
            f"default or the input; inspecting the bytes may only refuse, never select another decoder.")


# ----------------------------------------------------------------------------------------------
# The CK v3 frame (cachekit/serializers/wrapper.py) and the entries built from it
# ----------------------------------------------------------------------------------------------

_MAGIC = b"CK"
_PREFIX_LEN = 7
_ALGORITHM = "AES-256-GCM"


# cachekit-py pads the header of an uncompressed plaintext Arrow entry with spaces so the IPC body
# starts on a 64-byte boundary of its File backend's cache file (14-byte file header, 8-byte checksum).
_ARROW_ALIGN, _ARROW_OFFSET = 64, 14 + 8


def frame(serializer_name: str, metadata: dict[str, Any], payload: bytes, aligned: bool = False) -> bytes:
    header = json.dumps({"s": serializer_name, "m": metadata, "v": "2.0"}, ensure_ascii=False).encode("utf-8")
    if aligned:
        header += b" " * (-(_ARROW_OFFSET + _PREFIX_LEN + len(header)) % _ARROW_ALIGN)
    return b"".join((_MAGIC, b"\x03", len(header).to_bytes(4, "big"), header, payload))


def unframe(stored: bytes) -> tuple[dict[str, Any], str, bytes]:
    """(metadata dict, serializer name, payload) of a v3 frame; SerializationError when it is none."""
    if stored[:2] != _MAGIC or len(stored) < _PREFIX_LEN:
        raise SerializationError("Corrupt cache envelope: not a CK v3 frame")
    if stored[2] != 3:
        raise SerializationError(f"Corrupt cache envelope: Unsupported cache envelope frame version {stored[2]} "
                                 f"(expected 3)")
    end = _PREFIX_LEN + int.from_bytes(stored[3:_PREFIX_LEN], "big")
    if end > len(stored):
        raise SerializationError("Corrupt cache envelope: header length overruns the frame")
    try:
        header = json.loads(stored[_PREFIX_LEN:end])
        name = header.get("s")
        metadata = header.get("m", {})
    except (ValueError, AttributeError, TypeError) as error:
        raise SerializationError(f"Corrupt cache envelope: {error}") from error
    if not isinstance(name, str) or not name:
        raise SerializationError("Corrupt cache envelope: Cache envelope records no serializer name")
    if not isinstance(metadata, dict):
        raise SerializationError("Corrupt cache envelope: header metadata is not an object")
    return metadata, name, stored[end:]


# Bumped in every forked child: a keyring's encryptors (instance id, nonce counter) must never be
# shared by two processes, or both would seal under the same nonces.
_fork_generation = 0
# Keyrings a child inherited: never freed there (a parent thread may have held their lock at fork).
_inherited_keyrings: list[ctypes.c_void_p] = []


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Sealing:
    """The keyring, tenant and key prefix of an encrypting decorator; the library does the crypto.
    Each process builds its own keyring (the master key is kept for that, as the cache config keeps
    it for the default serializer)."""

    def __init__(self, master_key: str, previous_keys: str | None, tenant: str, fail_closed: bool, key_prefix: str):
        self.keys = (master_key.encode("utf-8"), previous_keys.encode("utf-8") if previous_keys else None)
        self.fail_closed = fail_closed
        self.tenant, self.key_prefix = tenant, key_prefix
        self.free = _ffi.library().cachekit_keyring_free
        self.generation, self.handle = -1, None
        self.keyring()  # a bad key is refused at decoration

    def keyring(self) -> ctypes.c_void_p:
        if self.generation != _fork_generation:
            if self.handle is not None:
                _inherited_keyrings.append(self.handle)
            library = _ffi.library()
            handle = ctypes.c_void_p()
            library.cachekit_keyring_new(self.keys[0], self.keys[1], ctypes.byref(handle))
            library.cachekit_keyring_set_fail_closed(handle, 1 if self.fail_closed else 0)
            self.handle, self.generation = handle, _fork_generation
        return self.handle

    def __del__(self):
        handle = getattr(self, "handle", None)
        if handle and getattr(self, "generation", -1) == _fork_generation:
            self.free(handle)

    def aad(self, tenant: str, key: bytes, metadata: SerializationMetadata) -> bytes:
        original_type = metadata.original_type
        if original_type is not None and not isinstance(original_type, str):
            raise SerializationError(f"Corrupt frame header: original_type must be a string, got "
                                     f"{type(original_type).__name__}")
        out = _ffi.Buffer()
        library = _ffi.library()
        library.cachekit_aad_v3(tenant.encode("utf-8"), self.key_prefix.encode("utf-8") + key,
                                metadata.format.value.encode("utf-8"), 1 if metadata.compressed is True else 0,
                                original_type.encode("utf-8") if original_type else None, ctypes.byref(out))
        return library.take(out)

    def seal(self, payload: bytes, metadata: SerializationMetadata, key: bytes) -> tuple[bytes, SerializationMetadata]:
        if not isinstance(metadata.compressed, bool):
            raise EncryptionError(f"Refusing to seal: serializer metadata compressed must be a bool, got "
                                  f"{type(metadata.compressed).__name__}")
        aad = self.aad(self.tenant, key, metadata)
        out, fingerprint = _ffi.Buffer(), ctypes.create_string_buffer(33)
        library = _ffi.library()
        library.cachekit_keyring_encrypt(self.keyring(), self.tenant.encode("utf-8"), payload, len(payload), aad,
                                         len(aad), ctypes.byref(out), fingerprint)
        sealed = library.take(out)
        return sealed, SerializationMetadata(
            serialization_format=metadata.format, encoding=metadata.encoding, compressed=metadata.compressed,
            original_type=metadata.original_type, encrypted=True, tenant_id=self.tenant,
            encryption_algorithm=_ALGORITHM, key_fingerprint=fingerprint.value.decode("ascii"))

    def open(self, payload: bytes, metadata: SerializationMetadata, key: bytes) -> tuple[bytes, SerializationMetadata]:
        if not metadata.tenant_id:
            raise SerializationError("Encrypted cache entry is missing tenant_id in metadata. "
                                     "Cannot decrypt without tenant context.")
        plain_metadata = SerializationMetadata(serialization_format=metadata.format, encoding=metadata.encoding,
                                               compressed=metadata.compressed, original_type=metadata.original_type,
                                               encrypted=True)
        # The header's tenant selects the key, as cachekit-py's single-tenant reader does; the AAD binds it.
        aad = self.aad(metadata.tenant_id, key, plain_metadata)
        fingerprint = metadata.key_fingerprint
        out = _ffi.Buffer()
        library = _ffi.library()
        try:
            library.cachekit_keyring_decrypt(self.keyring(), metadata.tenant_id.encode("utf-8"), payload, len(payload),
                                             aad, len(aad), fingerprint.encode("ascii") if isinstance(fingerprint, str)
                                             else None, ctypes.byref(out))
        except CachekitError as error:
            raise DecryptionAuthenticationError(f"Decryption failed: {error.message}") from error
        return library.take(out), plain_metadata


def sealing_from(options: dict[str, Any], encryption_fail_closed: Any) -> Sealing:
    """A decorator's keyring from its options, else cachekit-py's environment variables."""
    master_key = options.get("master_key") or os.environ.get("CACHEKIT_MASTER_KEY")
    if not master_key:
        raise ValueError("cache.secure requires master_key parameter or CACHEKIT_MASTER_KEY environment variable")
    deployment = options.get("deployment_uuid") or os.environ.get("CACHEKIT_DEPLOYMENT_UUID")
    if deployment:
        try:
            tenant = str(uuid.UUID(deployment))
        except ValueError:
            raise ConfigurationError("Invalid deployment_uuid (must be valid UUID)") from None
    else:
        tenant = "default"
    if encryption_fail_closed is None:
        encryption_fail_closed = os.environ.get("CACHEKIT_ENCRYPTION_FAIL_CLOSED", "").strip().lower() in (
            "1", "true", "yes", "on")
    return Sealing(master_key, options.get("previous_master_keys"), tenant, bool(encryption_fail_closed),
                   options.get("key_prefix") or "")


class FramedCodec:
    """pack/unpack of one decorator whose entries this module frames (serializer.py's pair for the rest).

    ``pack(value, key)`` gives the stored entry, ``unpack(stored, key)`` the value; key is the
    cache key (the AAD binds it behind the key prefix). Serializer failures raise
    SerializationError with cachekit-py's message, which the decorator logs and caches nothing."""

    def __init__(self, serializer: Any, integrity: bool, sealing: Sealing | None):
        if isinstance(serializer, str):
            self.name = ALIASES.get(serializer, serializer)
            self.key_name = self.name
            kind = {"auto": AutoSerializer, "arrow": ArrowSerializer}.get(self.name, OrjsonSerializer)
            self.serializer = kind(enable_integrity_checking=integrity)
        else:
            self.name = type(serializer).__name__
            self.key_name = CUSTOM_PREFIX + self.name
            self.serializer = serializer
        self.described = serializer  # how cachekit-py names it in its messages (str of the name or object)
        self.sealing = sealing

    def pack(self, value: Any, key: bytes) -> bytes:
        try:
            if self.sealing is not None:
                try:
                    payload, metadata = self.serializer.serialize(value)
                except ValueError:
                    raise
                except Exception as error:
                    raise SerializationError(f"Serialization failed: {error}") from error
                payload, metadata = self.sealing.seal(bytes(payload), metadata, key)
            else:
                payload, metadata = self.serializer.serialize(value)
            header = metadata.to_dict() if hasattr(metadata, "to_dict") else {}
            aligned = self.sealing is None and type(self.serializer) is ArrowSerializer and not header.get("compressed")
            return frame(self.name, header, bytes(payload), aligned)
        except ValueError as error:
            if isinstance(error, SerializationError):
                raise SerializationError(f"Failed to serialize data with {self.described}: {error}") from error
            raise
        except Exception as error:
            raise SerializationError(f"Failed to serialize data with {self.described}: {error}") from error

    def unpack(self, stored: bytes, key: bytes) -> Any:
        metadata_dict, name, payload = unframe(stored)
        if name != self.name:
            raise SerializationError(
                f"Serializer mismatch: cached data uses '{name}', but decorator configured with '{self.name}'. "
                f"Cache entry is incompatible. Either flush cache or use cache key namespacing "
                f"for gradual migrations: @cache(namespace='v2-{self.name}')")
        try:
            metadata = SerializationMetadata.from_dict(metadata_dict)
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise SerializationError(f"Corrupt cache envelope: {error}") from error
        if self.sealing is not None and not metadata.encrypted:
            raise SerializationError("Encryption is enabled but the cache entry's header claims plaintext. "
                                     "Refusing the unauthenticated plaintext read path (fail closed).")
        if metadata.encrypted:
            if self.sealing is None:
                raise SerializationError("cache entry is encrypted and this decorator has no master key")
            payload, metadata = self.sealing.open(payload, metadata, key)
        try:
            return self.serializer.deserialize(payload, metadata)
        except SerializationError:
            raise
        except Exception as error:
            raise SerializationError(f"Failed to deserialize data with {self.described}: {error}") from error
