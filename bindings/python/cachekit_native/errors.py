"""Every exception this package raises, under one root: ``CachekitNativeError``.

Two kinds sit under the root. ``CachekitError`` and its subclasses stand for libcachekit status
codes: every negative status becomes an instance of the class registered for that code (or, for
a code this package does not know yet, of its section's base class), carrying the status, the
library's static description (cachekit_strerror) and the calling thread's detail message
(cachekit_last_error_message). Messages never contain key material: the library guarantees it.
The others are raised by the Python side itself and keep the names and base classes cachekit-py
users already catch (ConfigurationError, SerializationError, InteropError: each a ValueError).

The class families follow the header's sections; a family base also subclasses the builtin a
caller would reach for (ValueError, ConnectionError, TimeoutError, ...), so ``except ValueError``
keeps working.
"""

from __future__ import annotations


class CachekitNativeError(Exception):
    """The root of every exception cachekit_native raises."""


class ConfigurationError(CachekitNativeError, ValueError):
    """The decorator's options are inconsistent (raised at decoration time)."""


class SerializationError(CachekitNativeError, ValueError):
    """Stored bytes are not a value this package can decode (treated as a miss by the decorator)."""


class EncryptionError(SerializationError):
    """Sealing or opening an entry of serializers.py failed (cachekit-py's EncryptionError)."""


class DecryptionAuthenticationError(EncryptionError):
    """An entry of serializers.py did not authenticate: tampered, another key, tenant or cache key."""


class InteropError(CachekitNativeError, ValueError):
    """A value or argument is outside the interop/v1 data model (raised, never silently coerced)."""


class CacheClosedError(CachekitNativeError, ValueError):
    """A Cache was used after close() (a call already in flight when close() ran still completes)."""


class LibraryNotFoundError(CachekitNativeError, ImportError):
    """No loadable libcachekit of the required version was found; the message lists every attempt."""


class CachekitError(CachekitNativeError):
    """A libcachekit call failed. ``status`` is the pinned status code, ``message`` the detail."""

    def __init__(self, status: int, description: str = "", message: str = ""):
        self.status = status
        self.description = description
        self.message = message
        text = f"{description} (status {status})" if description else f"status {status}"
        super().__init__(f"{text}: {message}" if message else text)


# Sections of the status space (see include/cachekit.h).
class MisuseError(CachekitError):
    """-1 .. -9: a NULL pointer, a bad argument, an allocation or an underlying library failed."""


class CodecError(CachekitError):
    """-10 .. -19: the ByteStorage envelope, LZ4 or the checksum."""


class CryptoError(CachekitError):
    """-20 .. -39: keys, AES-256-GCM, HKDF."""


class ValueKeyError(CachekitError):
    """-40 .. -59: MessagePack values, cache keys and entries."""


class EntryError(ValueKeyError):
    """-50 .. -59: stored entries (the CK v3 frame, its header, its mode and encryption)."""


class BackendError(CachekitError):
    """-60 .. -79: the cache and its Redis backend (cachekit-py's name for backend failures)."""


class NullPointerError(MisuseError): pass
class InvalidArgumentError(MisuseError, ValueError): pass
class BufferTooSmallError(MisuseError): pass
class OutOfMemoryError(MisuseError, MemoryError): pass
class InternalError(MisuseError): pass
class HandleMisuseError(MisuseError): pass

class TooLargeError(CodecError): pass
class InvalidInputError(CodecError): pass
class DecompressionBombError(CodecError): pass
class DecompressionFailedError(CodecError): pass
class ChecksumMismatchError(CodecError): pass
class SizeValidationError(CodecError): pass
class CompressionFailedError(CodecError): pass

class AuthenticationFailedError(CryptoError): pass
class CiphertextTooShortError(CryptoError): pass
class KeyLengthError(CryptoError, ValueError): pass
class InvalidHexError(CryptoError, ValueError): pass
class NonceExhaustedError(CryptoError): pass
class DomainLengthError(CryptoError, ValueError): pass
class TenantLengthError(CryptoError, ValueError): pass
class TooManyPreviousKeysError(CryptoError, ValueError): pass
class CurrentKeyRepeatedError(CryptoError, ValueError): pass
class MissingMasterKeyError(CryptoError, ValueError): pass
class KeyFingerprintMismatchError(CryptoError): pass
class InvalidFingerprintError(CryptoError, ValueError): pass
class RandomFailedError(CryptoError): pass

class NestingTooDeepError(ValueKeyError, ValueError): pass
class UnsupportedValueError(ValueKeyError, TypeError): pass
class InvalidUTF8Error(ValueKeyError, ValueError): pass
class InvalidMapKeyError(ValueKeyError, TypeError): pass
class InvalidSegmentError(ValueKeyError, ValueError): pass
class WriterStateError(ValueKeyError): pass
class TypeMismatchError(ValueKeyError, TypeError): pass

class InvalidFrameError(EntryError): pass
class UnsupportedFrameVersionError(EntryError): pass
class InvalidHeaderError(EntryError): pass
class SerializerMismatchError(EntryError): pass
class ModeMismatchError(EntryError): pass
class NotEncryptedError(EntryError): pass
class EncryptedEntryError(EntryError): pass
class TenantMismatchError(EntryError): pass
class InvalidValueError(EntryError): pass

# Backend families: Redis could not be used for the call (unavailable, or timed out: transient,
# the next call may succeed), or it answered and the answer was refused.
class BackendUnavailableError(BackendError, ConnectionError): pass
class BackendTimeoutError(BackendError, TimeoutError): pass
class BackendResponseError(BackendError): pass
class ValueTooLargeError(BackendError, ValueError): pass
class InvalidConfigError(BackendError, ValueError): pass
class UnknownOptionError(BackendError, ValueError): pass
class ComputeFailedError(BackendError): pass
class ModeUnavailableError(BackendError, ValueError): pass
class InvalidKeyError(BackendError, ValueError): pass
# A failed handshake is a connection that could not be made.
class TLSError(BackendUnavailableError): pass
# Shedding and an open breaker skip Redis, which -60 reported before they had their own codes.
class BackendOverloadedError(BackendUnavailableError): pass
class CircuitOpenError(BackendUnavailableError): pass
class PoolTimeoutError(BackendTimeoutError): pass
class ReplyTooLargeError(BackendResponseError): pass
# A refused AUTH is an answer from Redis, reported as -62 before it had its own code.
class BackendAuthError(BackendResponseError): pass
class SweepIncompleteError(BackendError): pass


_BY_STATUS: dict[int, type[CachekitError]] = {
    -1: NullPointerError,
    -2: InvalidArgumentError,
    -3: BufferTooSmallError,
    -4: OutOfMemoryError,
    -5: InternalError,
    -6: HandleMisuseError,
    -10: TooLargeError,
    -11: InvalidInputError,
    -12: DecompressionBombError,
    -13: DecompressionFailedError,
    -14: ChecksumMismatchError,
    -15: SizeValidationError,
    -16: CompressionFailedError,
    -20: AuthenticationFailedError,
    -21: CiphertextTooShortError,
    -22: KeyLengthError,
    -23: InvalidHexError,
    -24: NonceExhaustedError,
    -25: DomainLengthError,
    -26: TenantLengthError,
    -27: TooManyPreviousKeysError,
    -28: CurrentKeyRepeatedError,
    -29: MissingMasterKeyError,
    -30: KeyFingerprintMismatchError,
    -31: InvalidFingerprintError,
    -32: RandomFailedError,
    -40: NestingTooDeepError,
    -41: UnsupportedValueError,
    -42: InvalidUTF8Error,
    -43: InvalidMapKeyError,
    -44: InvalidSegmentError,
    -45: WriterStateError,
    -46: TypeMismatchError,
    -50: InvalidFrameError,
    -51: UnsupportedFrameVersionError,
    -52: InvalidHeaderError,
    -53: SerializerMismatchError,
    -54: ModeMismatchError,
    -55: NotEncryptedError,
    -56: EncryptedEntryError,
    -57: TenantMismatchError,
    -59: InvalidValueError,
    -60: BackendUnavailableError,
    -61: BackendTimeoutError,
    -62: BackendResponseError,
    -63: ValueTooLargeError,
    -64: InvalidConfigError,
    -65: UnknownOptionError,
    -66: ComputeFailedError,
    -67: ModeUnavailableError,
    -68: InvalidKeyError,
    -69: TLSError,
    -70: BackendOverloadedError,
    -71: CircuitOpenError,
    -72: ReplyTooLargeError,
    -73: BackendAuthError,
    -74: SweepIncompleteError,
    -75: PoolTimeoutError,
}

# Narrower ranges first: the entry section lies inside the value/key section.
_SECTIONS: tuple[tuple[int, int, type[CachekitError]], ...] = (
    (-9, -1, MisuseError),
    (-19, -10, CodecError),
    (-39, -20, CryptoError),
    (-59, -50, EntryError),
    (-59, -40, ValueKeyError),
    (-79, -60, BackendError),
)


def register(status: int, cls: type[CachekitError]) -> None:
    """Associates a status code with an exception class (used as sections gain codes)."""
    _BY_STATUS[status] = cls


def class_for_status(status: int) -> type[CachekitError]:
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    for low, high, section in _SECTIONS:
        if low <= status <= high:
            return section
    return CachekitError


def error_for_status(status: int, description: str = "", message: str = "") -> CachekitError:
    return class_for_status(status)(status, description, message)
