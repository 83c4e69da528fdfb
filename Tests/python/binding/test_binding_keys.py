"""cachekit_native's cache keys against cachekit 0.24.1's key generators and the Tests/vectors vectors."""
import enum
import json
import types
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import PurePosixPath
from uuid import UUID

import pytest
from cachekit.interop import generate_interop_key, bind_flat_args
from cachekit.key_generator import CacheKeyGenerator

from cachekit_native.keys import AutoKeyBuilder, InteropKeyBuilder, function_id
from cachekit_native.serializer import InteropError

GENERATOR = CacheKeyGenerator()


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


class Level(enum.IntEnum):
    LOW = 1


def plain(a=None, b=None, *rest, **options):
    return a


class Outer:
    def method(self, x):
        return x


def make_nested():
    def inner(x):
        return x
    return inner


ARGUMENT_CASES = [
    ((), {}), ((42,), {}), (("hello",), {}), ((1, "two", 3.0), {}), ((None, True, False), {}),
    ((b"\x00\xff",), {}), ((-0.0, 0.0, 1e-300, 2.5),  {}), ((2**63, -(2**63), 2**64 - 1),  {}),
    (([1, [2, (3, 4)]],), {}), (({"b": 1, "a": {"d": 4, "c": 3}},), {}), (({1: "x", 0: "y"},), {}),
    ((1,), {"z": 1, "a": 2}), ((), {"flag": True, "items": (1, 2)}),
    ((PurePosixPath("/tmp/x"), UUID(int=5), Decimal("1.50")), {}), ((Color.RED, Color.BLUE, Level.LOW), {}),
    ((datetime(2024, 1, 1, tzinfo=timezone.utc),), {"when": datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2)))}),
    (("x" * 1000,), {}), (("spaces and\nlines",), {}),
]


@pytest.mark.parametrize("function", [plain, Outer.method, make_nested(), lambda x: x],
                         ids=["plain", "method", "nested", "lambda"])
@pytest.mark.parametrize("namespace", [None, "users", "with space"])
@pytest.mark.parametrize("integrity", [True, False])
def test_auto_keys_equal_cachekits(function, namespace, integrity):
    builder = AutoKeyBuilder(function, namespace, integrity)
    for args, kwargs in ARGUMENT_CASES:
        expected = GENERATOR.generate_key(function, args, kwargs, namespace=namespace,
                                          integrity_checking=integrity, serializer_type="std")
        assert builder.key(args, kwargs) == expected, (args, kwargs)


def test_long_function_names_are_cut_and_long_keys_hashed():
    function = types.FunctionType(plain.__code__, {}, "f" * 300)
    function.__qualname__ = "Q" * 300
    builder = AutoKeyBuilder(function, "n" * 100, True)
    expected = GENERATOR.generate_key(function, (1,), {}, namespace="n" * 100)
    assert builder.key((1,), {}) == expected
    assert len(expected) == 50 + 1 + 32


def test_odd_module_names_are_sanitized_like_cachekit():
    function = types.FunctionType(plain.__code__, {"__name__": "pkg..mod-x"}, "f")
    function.__qualname__ = "<locals>.é"
    assert function_id(function) == GENERATOR._sanitize_func_name(function.__module__, function.__qualname__)


@pytest.mark.parametrize("bad", [{1, 2}, object(), datetime(2024, 1, 1), [frozenset()]],
                         ids=["set", "object", "naive-datetime", "nested-frozenset"])
def test_unsupported_arguments_raise_type_error_like_cachekit(bad):
    with pytest.raises(TypeError):
        GENERATOR.generate_key(plain, (bad,), {})
    with pytest.raises(TypeError):
        AutoKeyBuilder(plain, None, True).key((bad,), {})


def test_shared_vectors(vectors_dir):
    data = json.loads((vectors_dir / "cache-keys.json").read_text())
    assert data["vectors"]
    for vector in data["vectors"]:
        function = types.FunctionType(plain.__code__, {"__name__": vector["function_module"]}, "f")
        function.__qualname__ = vector["function_qualname"]
        builder = AutoKeyBuilder(function, vector["namespace"], vector["integrity_checking"])
        assert builder.key(tuple(vector["args"]), vector["kwargs"]) == vector["expected_key"], vector["name"]


def interop_target(user_id, region="eu", *tags, limit=10, **extra):
    return user_id


INTEROP_CASES = [
    ((42,), {}), ((), {"user_id": 42}), ((42, "eu"), {}), ((1.0,), {}), ((-0.0, "us", "a", "b"), {"limit": 3}),
    (({"b": [1, 2.5], "a": None},), {"x": b"\x01"}), (({3, 1, 2.0},), {}),
    ((datetime(2024, 1, 1, 12, tzinfo=timezone.utc),), {}), ((UUID(int=7), Color.RED, Decimal("2.0")), {}),
    ((PurePosixPath("a/b"),), {"extra_key": (1, 2)}),
]


@pytest.mark.parametrize("args,kwargs", INTEROP_CASES)
def test_interop_keys_equal_cachekits(args, kwargs):
    import inspect
    builder = InteropKeyBuilder(interop_target, "users", "get_user")
    flat = bind_flat_args(inspect.signature(interop_target), args, kwargs)
    assert builder.key(args, kwargs) == generate_interop_key("users", "get_user", flat)


@pytest.mark.parametrize("namespace,operation", [("Users", "op"), ("ns", "op"), ("a..b", "op"), (None, "op"),
                                                 ("users", "get user"), ("users", "op\n")])
def test_interop_segments_are_validated(namespace, operation):
    with pytest.raises(InteropError):
        InteropKeyBuilder(interop_target, namespace, operation)


@pytest.mark.parametrize("bad", [float("nan"), {1: "x"}, datetime(2024, 1, 1), object(), 2**64])
def test_interop_refuses_out_of_model_arguments(bad):
    with pytest.raises(InteropError):
        InteropKeyBuilder(interop_target, "users", "get_user").key((bad,), {})


def spy_on_library_calls(builder, name):
    """Records the first two arguments (namespace, function or operation) of each library call."""
    seen = []
    library_function = getattr(builder, name)

    def spy(*arguments):
        seen.append(arguments[:2])
        return library_function(*arguments)

    setattr(builder, name, spy)
    return seen


def test_keys_are_computed_by_the_library_except_exact_scalars_and_non_string_map_keys():
    builder = AutoKeyBuilder(plain, "users", True)
    seen = spy_on_library_calls(builder, "key_auto")
    expected = GENERATOR.generate_key(plain, ([1], "x"), {"b": 2}, namespace="users")
    assert builder.key(([1], "x"), {"b": 2}) == expected
    assert seen == [(b"users", f"{__name__}.plain".encode())]
    # Exact scalars: Python's blake2b, no library call.
    expected = GENERATOR.generate_key(plain, (1, "x"), {"b": 2}, namespace="users")
    assert builder.key((1, "x"), {"b": 2}) == expected
    assert len(seen) == 1
    # cachekit-py hashes int-keyed maps; the library refuses them, so the binding hashes them itself.
    expected = GENERATOR.generate_key(plain, ({2: "b", 1: "a"},), {}, namespace="users")
    assert builder.key(({2: "b", 1: "a"},), {}) == expected
    assert len(seen) == 2


SCALAR_CASES = [
    (), (0,), (-1, 127, 128, -32, -33, 255, 256, 65535, 65536, 2**32, 2**63, -(2**63), 2**64 - 1),
    ("", "x" * 31, "x" * 32, "x" * 255, "x" * 256, "x" * 65536, "snow \u2603", "\U0001f600"),
    (b"", b"\x00" * 255, b"\xff" * 256, b"b" * 70000), (True, False, None), (1, True, "1", b"1"),
]


@pytest.mark.parametrize("function", [plain, Outer.method, make_nested(), lambda x: x],
                         ids=["plain", "method", "nested", "lambda"])
@pytest.mark.parametrize("namespace", [None, "users", "with space", "n" * 300])
@pytest.mark.parametrize("integrity", [True, False])
def test_python_keys_of_exact_scalars_equal_the_librarys(function, namespace, integrity):
    builder = AutoKeyBuilder(function, namespace, integrity)
    for args in SCALAR_CASES:
        for kwargs in ({}, {"z": 1, "a": "two", "m": None}):
            assert builder.key(args, kwargs) == builder.library_key(args, kwargs), (args, kwargs)


def test_interop_keys_are_computed_by_the_library():
    builder = InteropKeyBuilder(interop_target, "users", "get_user")
    seen = spy_on_library_calls(builder, "key_interop")
    builder.key((42,), {})
    assert seen == [(b"users", b"get_user")]
