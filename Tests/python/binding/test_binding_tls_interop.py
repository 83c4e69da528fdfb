"""cachekit_native and the real cachekit 0.24.1 share entries over one rediss:// URL (the test
CA in ssl_ca_certs, ssl_cert_reqs=required): each reads what the other wrote as a hit."""
import inspect

import pytest

from support.peer import MASTER_KEY, run_peer, shared

from cachekit_native import cache

# name: (cachekit_native decorator for a URL, the same decorator in cachekit-py)
FLAVORS = {
    "plain": (lambda url: cache(redis_url=url), "cache"),
    "secure": (lambda url: cache.secure(master_key=MASTER_KEY, redis_url=url), f"cache.secure(master_key={MASTER_KEY!r})"),
}


def profile(user_id):
    return {"id": user_id, "via": "tls", "tags": ["a", "b"]}


def peer_reads(url, decorator, user_ids):
    """cachekit-py configured by CACHEKIT_REDIS_URL, as a deployment would be: calls and results."""
    body = inspect.getsource(profile) + f"""
def get_profile(user_id):
    calls.append(user_id)
    return profile(user_id)
get_profile = {decorator}(shared(get_profile))
results = [get_profile(u) for u in {user_ids!r}]
out = {{"calls": calls, "results": results}}
"""
    return run_peer(url, body, extra_env={"CACHEKIT_REDIS_URL": url})


def native(decorator, calls):
    def get_profile(user_id):
        calls.append(user_id)
        return profile(user_id)
    return decorator(shared(get_profile))


@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_cachekit_py_writes_over_tls_and_cachekit_native_hits(tls_redis, flavor):
    make_native, peer_decorator = FLAVORS[flavor]
    peer = peer_reads(tls_redis.url, peer_decorator, [5, 5])
    assert peer["calls"] == [5]  # cachekit-py's own hit over TLS
    calls = []
    function = native(make_native(tls_redis.url), calls)
    before = function.cache_info()  # the function's counts go on across the cases (one per qualname)
    assert function(5) == profile(5)
    assert calls == []
    info = function.cache_info()
    assert (info.hits - before.hits, info.l2_hits - before.l2_hits, info.misses - before.misses) == (1, 1, 0)


@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_cachekit_native_writes_over_tls_and_cachekit_py_hits(tls_redis, flavor):
    make_native, peer_decorator = FLAVORS[flavor]
    calls = []
    function = native(make_native(tls_redis.url), calls)
    assert function(6) == profile(6)
    assert calls == [6]
    assert tls_redis.client().dbsize() >= 1
    peer = peer_reads(tls_redis.url, peer_decorator, [6])
    assert peer == {"calls": [], "results": [profile(6)]}
