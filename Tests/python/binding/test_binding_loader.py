"""Loading libcachekit: the search order, the version check, the exceptions and handle lifetime."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from support.abi import BINDINGS, library_path

import cachekit_native
from cachekit_native import Cache, errors


def run_python(code: str, env_update: dict, pythonpath: str = str(BINDINGS)):
    env = {k: v for k, v in os.environ.items() if k != "CACHEKIT_LIBRARY_PATH"}
    env.update(env_update)
    env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=60, cwd="/")


def test_loads_the_library_named_by_the_environment(monkeypatch):
    result = run_python("import cachekit_native as n; print(n.library_path()); print(n.library_version())",
                        {"CACHEKIT_LIBRARY_PATH": library_path()})
    assert result.returncode == 0, result.stderr
    path, version = result.stdout.split()
    assert path == library_path()
    assert version == cachekit_native.__version__


def test_an_explicit_path_that_does_not_exist_is_not_replaced_by_another_library():
    result = run_python("import cachekit_native as n; n.library_path()",
                        {"CACHEKIT_LIBRARY_PATH": "/nonexistent/libcachekit.so"})
    assert result.returncode != 0
    assert "LibraryNotFoundError" in result.stderr
    assert "CACHEKIT_LIBRARY_PATH: /nonexistent/libcachekit.so: no such file" in result.stderr


def test_not_a_cachekit_library_is_refused():
    result = run_python("import cachekit_native as n; n.library_path()", {"CACHEKIT_LIBRARY_PATH": "libc.so.6"})
    assert result.returncode != 0
    assert "not libcachekit (no cachekit_version_number)" in result.stderr


def test_a_library_of_another_version_is_refused_with_every_attempt_listed():
    result = run_python("""
        import cachekit_native._loader as loader
        loader.LIBRARY_VERSION_NUMBER = 9901
        import cachekit_native as n
        n.library_path()
    """, {"CACHEKIT_LIBRARY_PATH": library_path()})
    assert result.returncode != 0
    assert f"{library_path()}: version {cachekit_native.__version__}, this package needs 0.99.1" in result.stderr
    assert "no usable libcachekit 0.99.1 found; tried:" in result.stderr


def test_without_the_variable_a_copy_inside_the_package_is_used(tmp_path):
    package = tmp_path / "cachekit_native"
    shutil.copytree(BINDINGS / "cachekit_native", package,
                    ignore=shutil.ignore_patterns("__pycache__", "_lib"))
    (package / "_lib").mkdir()
    shutil.copy(library_path(), package / "_lib" / "libcachekit.so")
    result = run_python("import cachekit_native as n; print(n.library_path())", {}, pythonpath=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(package / "_lib" / "libcachekit.so")


def test_nothing_found_lists_every_source():
    result = run_python("import cachekit_native as n; n.library_path()", {"PKG_CONFIG_PATH": "/nonexistent"})
    if result.returncode == 0:
        pytest.skip("a libcachekit is installed system-wide on this machine")
    for source in ("package copy", "pkg-config", "ctypes.util.find_library('cachekit')", "CACHEKIT_LIBRARY_PATH"):
        assert source in result.stderr


def test_statuses_become_exceptions_carrying_the_library_message():
    with pytest.raises(errors.UnknownOptionError) as raised:
        Cache(from_env=False, no_such_option=1)
    assert raised.value.status == -65
    assert "no_such_option" in raised.value.message
    with pytest.raises(errors.InvalidConfigError) as raised:
        Cache(from_env=False, redis_url="http://example")
    assert "redis" in str(raised.value).lower()
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, errors.BackendError)
    with pytest.raises(errors.ModeUnavailableError):
        Cache(from_env=False, mode="secure")


def test_a_bad_master_key_is_refused_without_echoing_it():
    secret = "zz" + "ab" * 40
    with pytest.raises(errors.CachekitError) as raised:
        Cache(from_env=False, mode="secure", master_key=secret)
    assert secret not in str(raised.value) and "abab" not in str(raised.value)


def test_error_classes_by_status_and_section():
    assert errors.class_for_status(-14) is errors.ChecksumMismatchError
    assert errors.class_for_status(-19) is errors.CodecError
    assert errors.class_for_status(-38) is errors.CryptoError
    assert errors.class_for_status(-43) is errors.InvalidMapKeyError
    assert errors.class_for_status(-47) is errors.ValueKeyError
    assert errors.class_for_status(-58) is errors.EntryError
    assert errors.class_for_status(-79) is errors.BackendError
    assert errors.class_for_status(-500) is errors.CachekitError


def test_handles_close_with_close_and_with():
    cache = Cache(from_env=False)
    cache.set("k", b"\xa1v")
    assert cache.get("k") == b"\xa1v"
    cache.close()
    cache.close()
    assert cache.closed
    with pytest.raises(ValueError, match="closed"):
        cache.get("k")
    with Cache(from_env=False) as scoped:
        scoped.set(b"k", b"\xc0")
        assert scoped.get(b"k") == b"\xc0"
        assert scoped.get(b"other") is None
    assert scoped.closed


def test_open_handles_at_interpreter_exit_are_harmless():
    result = run_python("""
        import cachekit_native as n
        kept = n.Cache(from_env=False)
        kept.set("k", bytes([0xC3]))
        cycle = [n.Cache(from_env=False)]
        cycle.append(cycle)
        @n.cache(backend=None)
        def f(x):
            return x
        f(1)
    """, {"CACHEKIT_LIBRARY_PATH": library_path()})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_invalid_keys_and_ttls_are_errors_not_crashes():
    with Cache(from_env=False) as cache:
        with pytest.raises(errors.InvalidKeyError):
            cache.get(b"")
        with pytest.raises(errors.InvalidKeyError):
            cache.set(b"k" * 5000, b"\xc0")
        with pytest.raises(errors.InvalidKeyError):
            cache.set(b"\xff\xfe", b"\xc0")
        with pytest.raises(ValueError):
            cache.set("k", b"\xc0", ttl=-5)
        with pytest.raises(errors.CachekitError):
            cache.set("k", b"\x92\x01")  # not one whole MessagePack document


def test_without_the_variable_or_a_package_copy_pkg_config_is_asked(tmp_path):
    if shutil.which("pkg-config") is None:
        pytest.fail("pkg-config not installed (the test command installs it)")
    libdir = tmp_path / "prefix" / "lib"
    (libdir / "pkgconfig").mkdir(parents=True)
    shutil.copy(library_path(), libdir / "libcachekit.so.0")
    (libdir / "pkgconfig" / "cachekit.pc").write_text(
        f"prefix={tmp_path / 'prefix'}\nlibdir=${{prefix}}/lib\nincludedir=${{prefix}}/include\n\n"
        "Name: cachekit\nDescription: test\nVersion: 0.1.0\nLibs: -L${libdir} -lcachekit\nCflags: -I${includedir}\n")
    result = run_python("import cachekit_native as n; print(n.library_path())",
                        {"PKG_CONFIG_PATH": str(libdir / "pkgconfig")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(libdir / "libcachekit.so.0")
