"""cachekit-py's configuration surface on cachekit_native: the config classes (checked field by
field against cachekit 0.24.1's own), config=, the nested configs, the dev/test/io presets, key=,
serializer=, stale_ttl= and _bypass_cache, with entries shared live with cachekit-py where keys
are involved."""
import asyncio
import dataclasses

import pytest
import redis

import cachekit.config.decorator as py_decorator
import cachekit.config.nested as py_nested
from support.peer import run_peer, shared

import cachekit_native
from cachekit_native import (BackpressureConfig, CircuitBreakerConfig, DecoratorConfig, EncryptionConfig, L1CacheConfig,
                             MonitoringConfig, cache)
from cachekit_native.errors import ConfigurationError

PAIRS = [(L1CacheConfig, py_nested.L1CacheConfig), (CircuitBreakerConfig, py_nested.CircuitBreakerConfig),
         (BackpressureConfig, py_nested.BackpressureConfig), (MonitoringConfig, py_nested.MonitoringConfig),
         (EncryptionConfig, py_nested.EncryptionConfig), (DecoratorConfig, py_decorator.DecoratorConfig)]


def defaults(kind):
    out = {}
    for f in dataclasses.fields(kind):
        if f.name.startswith("_"):
            continue
        if f.default is not dataclasses.MISSING:
            out[f.name] = repr(f.default) if f.name == "backend" else f.default
        else:
            out[f.name] = type(f.default_factory()).__name__
    return out


@pytest.mark.parametrize("native, peer", PAIRS, ids=lambda kind: kind.__name__)
def test_the_config_classes_have_cachekit_pys_fields_and_defaults(native, peer):
    assert defaults(native) == defaults(peer)


@pytest.mark.parametrize("preset", ["minimal", "production", "dev", "test"])
def test_presets_set_what_cachekit_pys_set(preset):
    mine, theirs = getattr(DecoratorConfig, preset)(backend=None), getattr(py_decorator.DecoratorConfig, preset)(backend=None)
    for name in ("ttl", "integrity_checking"):
        assert getattr(mine, name) == getattr(theirs, name), name
    for group in ("l1", "circuit_breaker", "backpressure"):
        assert dataclasses.asdict(getattr(mine, group)) == dataclasses.asdict(getattr(theirs, group)), (preset, group)


@pytest.mark.parametrize("build", [
    lambda: L1CacheConfig(max_size_mb=0).validate(), lambda: L1CacheConfig(swr_threshold_ratio=0).validate(),
    lambda: CircuitBreakerConfig(half_open_requests=1, success_threshold=2).validate(),
    lambda: CircuitBreakerConfig(recovery_timeout=0).validate(),
    lambda: BackpressureConfig(max_concurrent_requests=0).validate(),
    lambda: DecoratorConfig(ttl_refresh_threshold=2.0), lambda: DecoratorConfig(integrity_checking=1),
    lambda: DecoratorConfig(l1=L1CacheConfig(max_size_mb=0)),
])
def test_invalid_configs_are_refused_as_cachekit_py_refuses_them(build):
    with pytest.raises(ConfigurationError):
        build()
    assert issubclass(ConfigurationError, ValueError)


def test_refusals_name_what_cannot_exist_here():
    with pytest.raises(ConfigurationError, match="cachekit.io"):
        cache.io(ttl=5)
    with pytest.raises(ConfigurationError, match="cachekit.io"):
        DecoratorConfig.io()
    with pytest.raises(ConfigurationError, match="serializer 'orjson'"):
        cache(serializer="orjson", backend=None)
    with pytest.raises(ConfigurationError, match="tenant_extractor"):
        cache(encryption=EncryptionConfig(enabled=True, master_key="ab" * 32, tenant_extractor=object()))
    with pytest.raises(ConfigurationError, match="does not accept config="):
        cache.secure(config=DecoratorConfig.production())
    with pytest.raises(TypeError, match="DecoratorConfig"):
        cache(config={"ttl": 5})
    with pytest.raises(ConfigurationError):
        cache(l1=L1CacheConfig(max_size_mb=0), backend=None)
    cache(serializer="default", stale_ttl=0, backend=None)  # cachekit-py's defaults are accepted


def test_config_and_nested_options_reach_the_library(redis_url):
    calls = []

    @cache(config=DecoratorConfig.production(namespace="cfg", l1=L1CacheConfig(enabled=False)), redis_url=redis_url)
    def load(x):
        calls.append(x)
        return {"x": x}

    assert load(1) == {"x": 1} and load(1) == {"x": 1}
    assert calls == [1]
    info = load.cache_info()
    assert info.l1_hits == 0 and info.l2_hits == 1  # L1 off: the second call came from Redis
    client = redis.Redis.from_url(redis_url)
    key = next(k for k in client.keys("t:default:ns:cfg:*"))
    assert 590 <= client.ttl(key) <= 600  # production's TTL
    stats = load._cachekit_native.cache.redis_stats()
    assert stats["configured"] == 1 and stats["breaker_state"] == 0  # CACHEKIT_BREAKER_CLOSED: on

    @cache(config=DecoratorConfig.test(), redis_url=redis_url, circuit_breaker=CircuitBreakerConfig(enabled=False))
    def fast(x):
        return [x]

    fast(2)
    assert fast._cachekit_native.cache.redis_stats()["breaker_state"] == -1  # CACHEKIT_BREAKER_OFF
    assert any(k.endswith(b":0s") for k in client.keys("t:default:func:*fast*"))  # test: integrity off


def test_a_custom_key_is_cachekit_pys_key(redis_url):
    peer = run_peer(redis_url, """
def profile(user_id, request_id):
    calls.append(user_id)
    return {"user": user_id, "from": "python"}
profile = cache(ttl=300, namespace="people", key=lambda user_id, request_id: f"user:{user_id}")(shared(profile))
profile(7, "a")
out = {"calls": calls}
""")
    assert peer["calls"] == [7]
    calls = []

    def profile(user_id, request_id):
        calls.append(user_id)
        return {"user": user_id, "from": "native"}

    native = cache(ttl=300, namespace="people", key=lambda user_id, request_id: f"user:{user_id}",
                   redis_url=redis_url)(shared(profile))
    assert native(7, "b") == {"user": 7, "from": "python"}  # cachekit-py's entry, found under the same key
    assert calls == []
    runs = []
    not_a_str = cache(key=lambda x: 5, backend=None)(lambda x: runs.append(x) or x)
    assert not_a_str(1) == 1 and not_a_str(1) == 1 and runs == [1, 1]  # as cachekit-py: run uncached

    def refuses(x):
        raise ValueError("no key for this one")

    raising = cache(key=refuses, backend=None)(lambda x: runs.append(x) or x)
    assert raising(2) == 2 and raising(2) == 2 and runs == [1, 1, 2, 2]  # any exception: run uncached
    with pytest.raises(ConfigurationError):
        cache(key=lambda x: "k", interop="op", namespace="ns", redis_url=redis_url)


def test_bypass_cache_runs_the_function_and_leaves_the_cache_alone():
    calls = []

    @cache(backend=None)
    def double(x):
        calls.append(x)
        return x * 2

    assert double(2) == 4 and double(2, _bypass_cache=True) == 4 and double(2, _bypass_cache=False) == 4
    assert calls == [2, 2, 2]  # any value bypasses, as in cachekit-py
    assert double(2) == 4 and calls == [2, 2, 2]
    assert double.cache_info().misses == 1

    @cache(backend=None)
    async def triple(x):
        calls.append(x)
        return x * 3

    async def main():
        return await triple(3), await triple(3, _bypass_cache=True), await triple(3)

    assert asyncio.run(main()) == (9, 9, 9)
    assert calls.count(3) == 2


def test_the_dev_and_test_presets_decorate(redis_url):
    @cache.dev(redis_url=redis_url, namespace="dev")
    def dev(x):
        return x

    @cache.test(backend=None)
    def test(x):
        return x

    assert dev(1) == 1 and test(1) == 1 and test(1) == 1
    assert test.cache_info().hits == 1
    client = redis.Redis.from_url(redis_url)
    key = next(k for k in client.keys("t:default:ns:dev:*"))
    assert 290 <= client.ttl(key) <= 300
    assert cachekit_native.DecoratorConfig is DecoratorConfig


def test_to_dict_is_cachekit_pys_view():
    mine = DecoratorConfig.secure(master_key="ab" * 32, namespace="n").to_dict()
    theirs = py_decorator.DecoratorConfig.secure(master_key="ab" * 32, namespace="n").to_dict()
    assert set(mine) == set(theirs)
    for name in set(mine) - {"serializer", "tenant_extractor"}:
        assert mine[name] == theirs[name], name
    assert mine["master_key"] == "[REDACTED]"


def test_a_refresh_ahead_runs_on_a_copy_of_the_arguments(redis_url):
    import threading
    import time
    seen = []
    changed = threading.Event()

    @cache(redis_url=redis_url, ttl=2, l1=L1CacheConfig(swr_enabled=True, swr_threshold_ratio=0.1))
    def total(items):
        if seen:
            changed.wait(5)  # the refresh reads its arguments only after the caller changed its list
        seen.append(list(items))
        return sum(items)

    items = [1, 2]
    assert total(items) == 3
    time.sleep(0.4)  # past 10% of the TTL: the next hit refreshes in the background
    assert total(items) == 3
    items.append(100)  # the caller changes its list after the call returned
    changed.set()
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == [[1, 2], [1, 2]]


@pytest.mark.parametrize("options", [dict(stale_ttl=True, ttl=60), dict(stale_ttl=-1, ttl=60), dict(stale_ttl=30),
                                     dict(stale_ttl=30, ttl=2_592_000), dict(stale_ttl=30, ttl=60)])
def test_stale_ttl_is_refused_with_cachekit_pys_messages(options):
    import cachekit
    import cachekit.config.validation as py_validation
    with pytest.raises(py_validation.ConfigurationError) as theirs:
        cachekit.cache(backend=None, **options)(lambda x: x)
    with pytest.raises(ConfigurationError) as mine:
        cache(backend=None, **options)(lambda x: x)
    assert str(mine.value) == str(theirs.value)
    assert DecoratorConfig(stale_ttl=30).stale_ttl == 30  # as cachekit-py, refused when applied, not when built
