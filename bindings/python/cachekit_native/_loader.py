"""Finding and loading libcachekit.

Order (the first library of the right version wins):
  1. the path in CACHEKIT_LIBRARY_PATH (when set, it is the only candidate: an explicit choice is
     never silently replaced by another library);
  2. a copy inside this package (cachekit_native/_lib/libcachekit.so*);
  3. the directory pkg-config reports for cachekit (`pkg-config --variable=libdir cachekit`);
  4. ctypes.util.find_library("cachekit") (ldconfig, LD_LIBRARY_PATH).
A library whose cachekit_version_number() differs from the version this package was written
against is refused; if nothing fits, LibraryNotFoundError lists every attempt and its outcome.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pathlib
import shutil
import subprocess

from ._version import LIBRARY_VERSION_NUMBER
from .errors import LibraryNotFoundError

ENV_VAR = "CACHEKIT_LIBRARY_PATH"
_SONAMES = ("libcachekit.so", "libcachekit.so.0", "libcachekit.dylib")


def _version_text(number: int) -> str:
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


def _package_copies() -> list[str]:
    lib_dir = pathlib.Path(__file__).resolve().parent / "_lib"
    return [str(lib_dir / name) for name in _SONAMES if (lib_dir / name).exists()]


def _pkg_config_copies() -> tuple[list[str], str | None]:
    if shutil.which("pkg-config") is None:
        return [], "pkg-config not installed"
    try:
        result = subprocess.run(["pkg-config", "--variable=libdir", "cachekit"], capture_output=True,
                                text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return [], f"pkg-config failed: {error}"
    libdir = result.stdout.strip()
    if result.returncode != 0 or not libdir:
        return [], "pkg-config does not know cachekit"
    found = [os.path.join(libdir, name) for name in _SONAMES if os.path.exists(os.path.join(libdir, name))]
    return found, None if found else f"pkg-config libdir {libdir} holds no libcachekit"


def candidates() -> list[tuple[str, str | None]]:
    """(source, path or None) in load order; a None path carries why the source gave nothing."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return [(f"{ENV_VAR}", explicit)]
    found: list[tuple[str, str | None]] = []
    copies = _package_copies()
    found += [("package copy", path) for path in copies] or [("package copy", None)]
    pkg_paths, pkg_reason = _pkg_config_copies()
    found += [("pkg-config", path) for path in pkg_paths] or [(f"pkg-config ({pkg_reason})", None)]
    name = ctypes.util.find_library("cachekit")
    found.append(("ctypes.util.find_library('cachekit')", name))
    return found


def load(required_symbols: list[str]) -> tuple[ctypes.CDLL, str]:
    """Loads the first library that opens, has the required version and exports every symbol."""
    attempts: list[str] = []
    for source, path in candidates():
        if path is None:
            attempts.append(f"  {source}: nothing found")
            continue
        if os.sep in path and not os.path.exists(path):
            attempts.append(f"  {source}: {path}: no such file")
            continue
        try:
            library = ctypes.CDLL(path)
        except OSError as error:
            attempts.append(f"  {source}: {path}: cannot load ({error})")
            continue
        try:
            version_function = library.cachekit_version_number
        except AttributeError:
            attempts.append(f"  {source}: {path}: not libcachekit (no cachekit_version_number)")
            continue
        version_function.argtypes = []
        version_function.restype = ctypes.c_uint
        version = int(version_function())
        if version != LIBRARY_VERSION_NUMBER:
            attempts.append(f"  {source}: {path}: version {_version_text(version)}, "
                            f"this package needs {_version_text(LIBRARY_VERSION_NUMBER)}")
            continue
        missing = [name for name in required_symbols if not hasattr(library, name)]
        if missing:
            attempts.append(f"  {source}: {path}: lacks {', '.join(missing)}")
            continue
        return library, path
    raise LibraryNotFoundError(
        f"no usable libcachekit {_version_text(LIBRARY_VERSION_NUMBER)} found; tried:\n" + "\n".join(attempts)
        + f"\nSet {ENV_VAR} to the path of libcachekit.so, or install it (cmake --install) so pkg-config finds it.")
