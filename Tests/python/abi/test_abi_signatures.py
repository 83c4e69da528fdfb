"""The one ctypes signature table (the binding's, plus the functions only tests call) against the
header: every function declared, the same number of parameters, void exactly where the header
says void; and the ctypes structs with the header's fields in order."""
import re

import pytest

from support.abi import HEADER, SIGNATURES, TEST_SIGNATURES
from cachekit_native import _ffi


def declarations() -> dict[str, tuple[str, list[str]]]:
    """name -> (return type, parameter list) for every CACHEKIT_API function."""
    found = {}
    for returns, name, parameters in re.findall(r"CACHEKIT_API\s+([^;(]*?\**)\s*(cachekit_\w+)\s*\(([^)]*)\)",
                                                HEADER.read_text()):
        found[name] = (returns.strip(), [] if parameters.strip() == "void" else parameters.split(","))
    return found


def test_the_tables_do_not_overlap():
    assert not set(TEST_SIGNATURES) & set(_ffi.SIGNATURES), "the test table repeats a function the binding declares"


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_each_signature_matches_the_header(name):
    header = declarations()
    assert name in header, f"{name} is not declared in cachekit.h"
    returns, parameters = header[name]
    restype, argtypes = SIGNATURES[name]
    assert len(argtypes) == len(parameters), (name, parameters)
    assert (restype is None) == (returns == "void"), (name, returns)
    if restype is _ffi.STATUS:
        assert returns == "int", (name, returns)


@pytest.mark.parametrize("struct, ctypes_struct", [("cachekit_cache_stats", _ffi.CacheStats),
                                                   ("cachekit_cache_health_report", _ffi.HealthReport),
                                                   ("cachekit_listener_stats", _ffi.ListenerStats),
                                                   ("cachekit_fill_lock_settings", _ffi.FillLockSettings),
                                                   ("cachekit_coherence_stats", _ffi.CoherenceStats),
                                                   ("cachekit_buffer", _ffi.Buffer)])
def test_structs_match_the_header(struct, ctypes_struct):
    body = re.search(r"typedef struct " + struct + r" \{(.*?)\} " + struct + ";", HEADER.read_text(), re.S).group(1)
    fields = re.findall(r"^\s*[\w ]+?[\s*](\w+)(?:\[\d+\])?;", body, re.M)
    assert fields == [name for name, _ in ctypes_struct._fields_], struct
