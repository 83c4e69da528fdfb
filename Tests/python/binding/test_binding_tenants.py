"""tenant_extractor: multi-tenant encryption as cachekit-py 0.24.1 does it, live both ways over
Redis (cachekit-py in a fresh interpreter) and over one shared backend object in-process: an
entry is readable by its own tenant in the other SDK, and never by another tenant."""
import contextvars

import pytest

import cachekit
import cachekit_native
from cachekit.decorators.tenant_context import ArgumentNameExtractor, CallableExtractor
from cachekit_native import ConfigurationError, DecoratorConfig, EncryptionConfig
from support.peer import MASTER_KEY, run_peer, shared

TENANT_A = "11111111-1111-4111-8111-111111111111"
TENANT_B = "22222222-2222-4222-8222-222222222222"
current = contextvars.ContextVar("tenant")


def by_context():
    """A tenant that is not among the arguments: both tenants share one cache key."""
    return CallableExtractor(lambda args, kwargs: current.get())


class DictBackend:
    def __init__(self):
        self.store = {}

    def get(self, key):
        return self.store.get(key)

    def set(self, key, value, ttl=None):
        self.store[key] = value

    def delete(self, key):
        return self.store.pop(key, None) is not None

    def exists(self, key):
        return key in self.store


@pytest.fixture(autouse=True)
def no_environment_key(monkeypatch):
    monkeypatch.delenv("CACHEKIT_MASTER_KEY", raising=False)


def test_a_tenants_entry_is_its_own_across_sdks_and_no_one_elses():
    backend = DictBackend()
    runs = []

    def made():
        def report(x):
            runs.append(current.get())
            return {"x": x, "tenant": current.get()}
        report.__module__, report.__qualname__ = "ckn_tenant_probe", "report"
        return report

    by_py = cachekit.cache.secure(master_key=MASTER_KEY, backend=backend, ttl=60, tenant_extractor=by_context())(made())
    by_native = cachekit_native.cache.secure(master_key=MASTER_KEY, backend=backend, ttl=60,
                                             tenant_extractor=by_context(), l1_enabled=False)(made())
    current.set(TENANT_A)
    assert by_py(1) == {"x": 1, "tenant": TENANT_A}
    (stored,) = backend.store.values()
    assert TENANT_A.encode() in stored  # cachekit-py's header names the tenant
    assert by_native(1) == {"x": 1, "tenant": TENANT_A} and runs == [TENANT_A]  # tenant A reads A's entry
    current.set(TENANT_B)
    assert by_native(1) == {"x": 1, "tenant": TENANT_B}  # B cannot read A's entry: computes its own
    assert runs == [TENANT_A, TENANT_B]
    (stored,) = backend.store.values()
    assert TENANT_B.encode() in stored and TENANT_A.encode() not in stored
    assert by_py(1) == {"x": 1, "tenant": TENANT_B} and len(runs) == 2  # cachekit-py reads B's entry as B
    current.set(TENANT_A)
    assert by_py(1) == {"x": 1, "tenant": TENANT_A} and len(runs) == 3  # ... and not as A


def test_live_over_redis_both_ways(redis_url):
    peer = run_peer(redis_url, f"""
from cachekit.decorators.tenant_context import ArgumentNameExtractor
def orders(tenant_id, n):
    calls.append(n)
    return {{"n": n, "from": "python"}}
orders = cache.secure(master_key={MASTER_KEY!r}, ttl=300, tenant_extractor=ArgumentNameExtractor("tenant_id"))(shared(orders))
orders(tenant_id={TENANT_A!r}, n=1)
out = {{"calls": calls}}
""")
    assert peer["calls"] == [1]
    runs = []

    def orders(tenant_id, n):
        runs.append(n)
        return {"n": n, "from": "native"}

    native = cachekit_native.cache.secure(master_key=MASTER_KEY, ttl=300, redis_url=redis_url,
                                          tenant_extractor=ArgumentNameExtractor("tenant_id"))(shared(orders))
    assert native(tenant_id=TENANT_A, n=1) == {"n": 1, "from": "python"} and runs == []
    assert native(tenant_id=TENANT_B, n=2) == {"n": 2, "from": "native"}
    peer = run_peer(redis_url, f"""
from cachekit.decorators.tenant_context import ArgumentNameExtractor
def orders(tenant_id, n):
    calls.append(n)
    return {{"n": n, "from": "python"}}
orders = cache.secure(master_key={MASTER_KEY!r}, ttl=300, tenant_extractor=ArgumentNameExtractor("tenant_id"))(shared(orders))
out = {{"value": orders(tenant_id={TENANT_B!r}, n=2), "calls": calls}}
""")
    assert peer == {"value": {"n": 2, "from": "native"}, "calls": []}  # cachekit-py read this side's entry


class AsWritten:
    """An extractor of one's own, which (unlike cachekit-py's) returns the string unchecked."""

    def extract(self, args, kwargs):
        return current.get()


def test_a_call_without_a_usable_tenant_runs_uncached():
    backend = DictBackend()
    runs = []

    @cachekit_native.cache.secure(master_key=MASTER_KEY, backend=backend, tenant_extractor=AsWritten())
    def compute(x):
        runs.append(x)
        return x

    # Not a UUID (cachekit-py: no read, a failed store), and one cachekit-py would key from as
    # written while the library derives from the canonical form.
    for tenant in ("not-a-uuid", "ABCDEF12-3456-4789-8ABC-DEF123456789"):
        current.set(tenant)
        assert compute(1) == 1 and compute(1) == 1
    assert runs == [1, 1, 1, 1] and backend.store == {}
    current.set(TENANT_A)
    assert compute(1) == 1 and compute(1) == 1 and runs == [1, 1, 1, 1, 1]
    info = compute.cache_info()  # the tenants' caches counted together; uncached calls are not counted
    assert (info.hits, info.misses) == (1, 1)


def test_tenant_modes_are_checked_as_cachekit_py_checks_them():
    extractor = by_context()
    assert DecoratorConfig.secure(master_key=MASTER_KEY, tenant_extractor=extractor).encryption.single_tenant_mode is False
    assert DecoratorConfig.secure(master_key=MASTER_KEY).encryption.single_tenant_mode is True
    EncryptionConfig(enabled=True, master_key=MASTER_KEY, tenant_extractor=extractor).validate()
    with pytest.raises(ConfigurationError, match="Cannot use both tenant_extractor and single_tenant_mode"):
        EncryptionConfig(enabled=True, master_key=MASTER_KEY, tenant_extractor=extractor,
                         single_tenant_mode=True).validate()
    with pytest.raises(ConfigurationError, match="interop mode does not support tenant_extractor"):
        cachekit_native.cache.secure(master_key=MASTER_KEY, interop="op", namespace="ns", redis_url="redis://127.0.0.1:1",
                                     tenant_extractor=extractor)
