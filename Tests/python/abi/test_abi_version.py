"""The version is written once, in include/cachekit.h; CMake, Swift and Python must agree with it."""
import ctypes
import pathlib
import re
import shutil
import subprocess
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
HEADER = ROOT / "include" / "cachekit.h"
PACKAGE = ROOT / "bindings" / "python"


def header_version():
    text = HEADER.read_text()
    parts = [int(re.search(rf"^#define CACHEKIT_VERSION_{part} (\d+)$", text, re.M).group(1))
             for part in ("MAJOR", "MINOR", "PATCH")]
    string = re.search(r'^#define CACHEKIT_VERSION_STRING "([^"]*)"$', text, re.M).group(1)
    return parts, string


def test_header_string_matches_its_numbers():
    (major, minor, patch), string = header_version()
    assert string == f"{major}.{minor}.{patch}"
    # The NUMBER macro is the formula cachekit_version_number() documents.
    assert "(CACHEKIT_VERSION_MAJOR * 10000 + CACHEKIT_VERSION_MINOR * 100 + CACHEKIT_VERSION_PATCH)" \
        in HEADER.read_text()


def test_swift_library_reports_the_header_version(lib):
    (major, minor, patch), string = header_version()
    lib.cachekit_version_string.restype = ctypes.c_char_p
    lib.cachekit_version_number.restype = ctypes.c_uint
    assert lib.cachekit_version_string().decode() == string
    assert lib.cachekit_version_number() == major * 10000 + minor * 100 + patch


def test_python_package_carries_the_header_version():
    (major, minor, patch), string = header_version()
    names = {}
    exec((PACKAGE / "cachekit_native" / "_version.py").read_text(), names)
    assert names["__version__"] == string
    assert names["LIBRARY_VERSION_NUMBER"] == major * 10000 + minor * 100 + patch
    assert tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]["version"] == string


def test_cmake_reads_the_header_version(tmp_path):
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.fail("cmake not installed (the test command installs it)")
    _, string = header_version()
    # Configuring only: project() takes the version from the header; nothing is built.
    done = subprocess.run([cmake, "-S", str(ROOT), "-B", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f'set(PACKAGE_VERSION "{string}")' in (tmp_path / "cachekitConfigVersion.cmake").read_text()
    assert f"Version: {string}\n" in (tmp_path / "cachekit.pc").read_text()
