"""The crypto ABI against independent implementations and the real cachekit package:
ciphertext from libcachekit opens with the `cryptography` package under a key and AAD computed
here from the spec, and with cachekit's own Rust core; cachekit's ciphertext opens with
libcachekit. Then the leak scan: every text the library can return must be free of key material.
"""
import ctypes
import hashlib
import os
import secrets
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import cachekit._rust_serializer as rust
from cachekit.serializers.encryption_wrapper import EncryptionWrapper

from support.abi import P, Buffer, last_message, take


def spec_key(master: bytes, tenant: str, domain: str = "encryption") -> bytes:
    d, t = domain.encode(), tenant.encode()
    salt = b"cachekit_v1_" + bytes([len(d)]) + d + struct.pack(">H", len(t)) + t
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=d).derive(master)


def spec_aad(tenant: str, cache_key: str, compressed: bool, original_type: str | None) -> bytes:
    parts = [tenant, cache_key, "msgpack", "True" if compressed else "False"]
    if original_type is not None:
        parts.append(original_type)
    return b"\x03" + b"".join(struct.pack(">I", len(p.encode())) + p.encode() for p in parts)


def spec_fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"key_fingerprint_v1" + key).digest()[:16].hex()


class Keyring:
    def __init__(self, lib, master_hex: str, previous_hex: str | None = None):
        self.lib = lib
        self.handle = P()
        status = lib.cachekit_keyring_new(master_hex.encode(), previous_hex.encode() if previous_hex else None,
                                         ctypes.byref(self.handle))
        assert status == 0, last_message(lib)

    def encrypt(self, tenant: str, plaintext: bytes, aad: bytes) -> tuple[bytes, str]:
        out = Buffer()
        fingerprint = ctypes.create_string_buffer(33)
        status = self.lib.cachekit_keyring_encrypt(self.handle, tenant.encode(), plaintext, len(plaintext), aad, len(aad),
                                                  ctypes.byref(out), fingerprint)
        assert status == 0, last_message(self.lib)
        return take(self.lib, out), fingerprint.value.decode()

    def decrypt(self, tenant: str, payload: bytes, aad: bytes, fingerprint: str | None = None) -> tuple[int, bytes]:
        out = Buffer()
        status = self.lib.cachekit_keyring_decrypt(self.handle, tenant.encode(), payload, len(payload), aad, len(aad),
                                                  fingerprint.encode() if fingerprint else None, ctypes.byref(out))
        return status, take(self.lib, out) if status == 0 else b""

    def fingerprint(self, tenant: str, index: int = 0) -> str:
        out = ctypes.create_string_buffer(33)
        assert self.lib.cachekit_keyring_fingerprint(self.handle, tenant.encode(), index, out) == 0, last_message(self.lib)
        return out.value.decode()

    def close(self):
        self.lib.cachekit_keyring_free(self.handle)
        self.handle = P()


def library_aad(lib, tenant, cache_key, compressed, original_type) -> bytes:
    out = Buffer()
    status = lib.cachekit_aad_v3(tenant.encode(), cache_key.encode(), b"msgpack", 1 if compressed else 0,
                                original_type.encode() if original_type else None, ctypes.byref(out))
    assert status == 0, last_message(lib)
    return take(lib, out)


TENANTS = ["default", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "t\u00e9nant-\u00fc"]
SIZES = [0, 1, 100, 70_000]


@pytest.mark.parametrize("tenant", TENANTS)
def test_library_ciphertext_opens_with_cryptography(lib, tenant):
    master = secrets.token_bytes(32)
    keyring = Keyring(lib, master.hex())
    key = spec_key(master, tenant)
    assert keyring.fingerprint(tenant) == spec_fingerprint(key)
    for compressed, original_type, cache_key in [(True, "msgpack", f"t:{tenant}:func:m.f:args:ab:1s"),
                                                 (False, None, "ns:op:0123")]:
        aad = library_aad(lib, tenant, cache_key, compressed, original_type)
        assert aad == spec_aad(tenant, cache_key, compressed, original_type)
        for size in SIZES:
            plaintext = secrets.token_bytes(size)
            payload, fingerprint = keyring.encrypt(tenant, plaintext, aad)
            assert fingerprint == spec_fingerprint(key)
            assert len(payload) == size + 28
            assert AESGCM(key).decrypt(payload[:12], payload[12:], aad) == plaintext
            # A different AAD (another cache key) must not open it.
            with pytest.raises(Exception):
                AESGCM(key).decrypt(payload[:12], payload[12:], spec_aad(tenant, cache_key + "x", compressed, original_type))
    keyring.close()


def test_nonces_follow_the_scheme(lib):
    keyring = Keyring(lib, secrets.token_hex(32))
    aad = spec_aad("default", "k", False, None)
    nonces = [keyring.encrypt("default", b"x", aad)[0][:12] for _ in range(5)]
    assert len({n[:8] for n in nonces}) == 1, "one instance id per tenant encryptor"
    assert [int.from_bytes(n[8:], "big") for n in nonces] == [0, 1, 2, 3, 4]
    other = keyring.encrypt("other-tenant", b"x", aad)[0][:12]
    assert other[:8] != nonces[0][:8] and other[8:] == b"\0\0\0\0"
    keyring.close()


def test_library_ciphertext_opens_with_cachekit_core(lib):
    master = secrets.token_bytes(32)
    keyring = Keyring(lib, master.hex())
    tenant, cache_key = "default", "t:default:func:mod.fn:args:00:1s"
    aad = spec_aad(tenant, cache_key, True, "msgpack")
    plaintext = b"\x94\xc4\x05" + secrets.token_bytes(200)
    payload, fingerprint = keyring.encrypt(tenant, plaintext, aad)
    key = rust.derive_domain_key(master, "encryption", tenant.encode())
    assert rust.ZeroKnowledgeEncryptor().decrypt(payload, key, aad) == plaintext
    assert rust.key_fingerprint(key).hex() == fingerprint
    assert rust.Keyring(master, []).decrypt(rust.ZeroKnowledgeEncryptor(), payload, tenant, aad) == plaintext
    keyring.close()


def test_cachekit_ciphertext_opens_with_library(lib):
    master = secrets.token_bytes(32)
    tenant, cache_key = "default", "t:default:func:mod.fn:args:00:1s"
    wrapper = EncryptionWrapper(master_key=master, tenant_id=tenant, previous_master_keys=[])
    data, metadata = wrapper.serialize({"user": "alice", "ids": [1, 2, 3]}, cache_key=cache_key)
    aad = wrapper._create_aad(metadata, cache_key)
    assert aad == library_aad(lib, tenant, cache_key, metadata.compressed, metadata.original_type)
    expected = rust.ZeroKnowledgeEncryptor().decrypt(data, rust.derive_domain_key(master, "encryption", b"default"), aad)
    keyring = Keyring(lib, master.hex())
    assert keyring.decrypt(tenant, data, aad, metadata.key_fingerprint) == (0, expected)
    assert keyring.decrypt(tenant, data, aad, None) == (0, expected)
    keyring.close()


def test_rotation_matches_cachekit_keyring(lib):
    current, old = secrets.token_bytes(32), secrets.token_bytes(32)
    tenant = "acme"
    theirs = [fp.hex() for fp in rust.Keyring(current, [old]).encryption_fingerprints(tenant)]
    ours = Keyring(lib, current.hex(), old.hex())
    assert [ours.fingerprint(tenant, i) for i in range(2)] == theirs
    # Written by cachekit under the old key, read by our rotated keyring by fingerprint.
    old_wrapper = EncryptionWrapper(master_key=old, tenant_id=tenant, previous_master_keys=[])
    data, metadata = old_wrapper.serialize([1, 2, 3], cache_key="k")
    aad = old_wrapper._create_aad(metadata, "k")
    status, plain = ours.decrypt(tenant, data, aad, metadata.key_fingerprint)
    assert status == 0 and plain
    ours.close()


def test_garbage_payloads_fail_cleanly(lib):
    keyring = Keyring(lib, secrets.token_hex(32), secrets.token_hex(32))
    aad = spec_aad("default", "k", True, "msgpack")
    rng = __import__("random").Random(1234)
    for _ in range(2000):
        payload = rng.randbytes(rng.randrange(0, 120))
        fingerprint = rng.choice([None, rng.randbytes(16).hex(), keyring.fingerprint("default", 1)])
        status, plain = keyring.decrypt("default", payload, aad, fingerprint)
        assert status == (-21 if len(payload) < 28 else -20) and plain == b""
    keyring.close()


# ---- The leak scan ------------------------------------------------------------------------------

def secret_needles(master: bytes, tenants=("default",)) -> list[bytes]:
    """Key material as it could leak: hex in either case (any 12-digit window) and raw bytes."""
    needles = []
    keys = [master] + [spec_key(master, t, d) for t in tenants for d in ("encryption", "authentication", "cache_keys")]
    for key in keys:
        for text in (key.hex(), key.hex().upper()):
            needles += [text[i:i + 12].encode() for i in range(0, len(text) - 11)]
        needles += [key[i:i + 6] for i in range(0, len(key) - 5)]
    return needles


def test_no_key_material_in_any_text(lib, capfd):
    master = secrets.token_bytes(32)
    other = secrets.token_bytes(32)
    mhex, ohex = master.hex(), other.hex()
    texts: list[bytes] = []

    def last():
        texts.append(ctypes.string_at(lib.cachekit_last_error_message()))

    for code in range(-128, 128):
        texts.append(ctypes.string_at(lib.cachekit_strerror(code)))

    handle = P()
    bad_configs = [
        (mhex[:-1], None), ("zz" + mhex, None), (mhex[:10] + "g" + mhex[11:], None), (mhex[:60], None),
        (mhex, ohex + "," + mhex), (mhex, ",".join([ohex] * 4)), (mhex, ohex[:-2]), (mhex, ohex + "q"),
        (mhex.upper(), ohex + "," + mhex.upper()), ("", None), (" ", None),
    ]
    for master_hex, previous in bad_configs:
        status = lib.cachekit_keyring_new(master_hex.encode(), previous.encode() if previous else None, ctypes.byref(handle))
        assert status < 0
        last()

    for value, previous in [(mhex[:-1], None), (mhex, mhex), ("", None), (mhex, ohex + "x")]:
        os.environ["CACHEKIT_MASTER_KEY"] = value
        if previous is None:
            os.environ.pop("CACHEKIT_PREVIOUS_MASTER_KEYS", None)
        else:
            os.environ["CACHEKIT_PREVIOUS_MASTER_KEYS"] = previous
        assert lib.cachekit_keyring_from_env(ctypes.byref(handle)) < 0
        last()
    os.environ.pop("CACHEKIT_MASTER_KEY", None)
    os.environ.pop("CACHEKIT_PREVIOUS_MASTER_KEYS", None)
    assert lib.cachekit_keyring_from_env(ctypes.byref(handle)) < 0
    last()

    key = spec_key(master, "default")
    out32 = ctypes.create_string_buffer(32)
    for args in [(master, 15, b"encryption", b"default"), (master, 32, b"", b"default"), (master, 32, b"e" * 300, b"default"),
                 (master, 32, b"encryption", b""), (master, 32, b"encryption", b"t" * 2000), (master, 32, b"encryption", b"\xff\xfe")]:
        assert lib.cachekit_derive_domain_key(args[0], args[1], args[2], args[3], out32) < 0
        last()
    assert lib.cachekit_hkdf_sha256(master, 32, None, 0, None, 0, out32, 0) < 0
    last()
    assert lib.cachekit_hkdf_sha256(master, 0, None, 0, None, 0, out32, 32) < 0
    last()

    keyring = Keyring(lib, mhex)
    aad = spec_aad("default", "k", True, "msgpack")
    payload, fingerprint = keyring.encrypt("default", b"plaintext-marker-123", aad)
    last()
    tampered = bytearray(payload)
    tampered[-1] ^= 1
    wrong = Keyring(lib, ohex)
    wrong_fingerprint = wrong.fingerprint("default")
    cases = [
        (keyring, "default", bytes(tampered), aad, fingerprint), (keyring, "default", payload[:27], aad, None),
        (keyring, "other", payload, aad, None), (keyring, "default", payload, aad + b"x", None),
        (keyring, "default", payload, aad, "nothex"), (keyring, "default", payload, aad, key.hex()[:32].upper()),
        (wrong, "default", payload, aad, fingerprint), (wrong, "default", payload, aad, None), (keyring, "", payload, aad, None),
    ]
    for ring, tenant, data, a, fp in cases:
        status, _ = ring.decrypt(tenant, data, a, fp)
        assert status < 0
        last()
    lib.cachekit_keyring_set_fail_closed(wrong.handle, 1)
    assert wrong.decrypt("default", payload, aad, fingerprint)[0] < 0
    last()
    assert wrong_fingerprint != fingerprint
    out = Buffer()
    assert lib.cachekit_keyring_encrypt(keyring.handle, b"", b"x", 1, None, 0, ctypes.byref(out), None) < 0
    last()
    assert lib.cachekit_keyring_encrypt(keyring.handle, b"t" * 1100, b"x", 1, None, 0, ctypes.byref(out), None) < 0
    last()
    assert lib.cachekit_aad_v3(b"", b"k", None, 0, None, ctypes.byref(out)) < 0
    last()
    keyring.close()
    wrong.close()

    captured = capfd.readouterr()
    texts += [captured.out.encode(), captured.err.encode()]
    assert len(texts) > 256 + 30
    assert any(b"hex" in t for t in texts), "the scan must see the hex error messages"
    needles = secret_needles(master) + secret_needles(other) + [b"plaintext-marker"]
    for text in texts:
        for needle in needles:
            assert needle not in text, f"key material in library text: {text[:80]!r}"
