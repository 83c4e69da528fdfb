"""Builds a wheel that carries libcachekit, so the installed package needs no separate library.

Where the library comes from, first match wins:
  1. CACHEKIT_NATIVE_LIBRARY=/path/to/libcachekit.so: that file is copied in (for packagers);
  2. the SwiftPM package around this directory (or CACHEKIT_SOURCE_ROOT), built with
     `swift build -c release --product cachekit` (swift from PATH, or SWIFT=/path/to/swift);
  3. CACHEKIT_NATIVE_BUNDLE=0: no copy; the package then finds a library as the loader says
     (CACHEKIT_LIBRARY_PATH, pkg-config, the linker's search path).
Anything else fails the build with a message naming these choices: a wheel that silently lacks
its library would fail only later, at import, on another machine.

The C hit path, cachekit_native/_speedups.c, is compiled against the header in the surrounding
checkout's include/ (else CACHEKIT_SOURCE_ROOT's), so the wheel is tagged for this interpreter and platform
(cp3XX-cp3XX-<platform>). It takes libcachekit's function addresses from the ctypes library at
run time, so it does not link the library. CACHEKIT_NATIVE_SPEEDUPS=0 builds without it (the
package then runs on ctypes alone, py3-none-<platform> when it carries the library); a compile
that fails fails the build.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sysconfig

from setuptools import Distribution, Extension, setup
from setuptools.command.build_py import build_py
from setuptools.errors import SetupError

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1 keeps it in the wheel package
    from wheel.bdist_wheel import bdist_wheel

HERE = pathlib.Path(__file__).resolve().parent
LIBRARY_NAME = "libcachekit.so"


def _bundling() -> bool:
    return os.environ.get("CACHEKIT_NATIVE_BUNDLE", "1") != "0"


def _source_root() -> pathlib.Path | None:
    explicit = os.environ.get("CACHEKIT_SOURCE_ROOT")
    candidates = [pathlib.Path(explicit)] if explicit else [HERE.parent.parent]
    return next((root for root in candidates if (root / "Package.swift").is_file()), None)


def _built_library() -> pathlib.Path:
    given = os.environ.get("CACHEKIT_NATIVE_LIBRARY")
    if given:
        path = pathlib.Path(given)
        if not path.is_file():
            raise SetupError(f"CACHEKIT_NATIVE_LIBRARY={given} is not a file")
        return path
    root = _source_root()
    swift = os.environ.get("SWIFT") or shutil.which("swift")
    if root is None or swift is None:
        missing = "the libcachekit sources (set CACHEKIT_SOURCE_ROOT)" if root is None else "a Swift toolchain"
        raise SetupError(
            f"cannot bundle libcachekit: no {missing}. Set CACHEKIT_NATIVE_LIBRARY to a built libcachekit.so, "
            "or CACHEKIT_NATIVE_BUNDLE=0 to build a package that loads an installed library.")
    print(f"building libcachekit in {root} with {swift}")
    subprocess.run([swift, "build", "-c", "release", "--product", "cachekit", "--package-path", str(root)],
                   check=True)
    library = root / ".build" / "release" / LIBRARY_NAME
    if not library.is_file():
        raise SetupError(f"swift build finished but {library} is missing")
    return library


def _speedups() -> list[Extension]:
    if os.environ.get("CACHEKIT_NATIVE_SPEEDUPS", "1") == "0":
        return []
    # The header of the checkout around this directory first: the one this package was written against.
    roots = [HERE.parent.parent] + ([pathlib.Path(os.environ["CACHEKIT_SOURCE_ROOT"])]
                                    if os.environ.get("CACHEKIT_SOURCE_ROOT") else [])
    header = next((root / "include" / "cachekit.h" for root in roots if (root / "include" / "cachekit.h").is_file()),
                  None)
    if header is None:
        raise SetupError("cannot build the C hit path: include/cachekit.h is missing (set CACHEKIT_SOURCE_ROOT to "
                         "the libcachekit checkout, or CACHEKIT_NATIVE_SPEEDUPS=0 to build without it)")
    return [Extension("cachekit_native._speedups", ["cachekit_native/_speedups.c"], include_dirs=[str(header.parent)],
                      extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                                          "-Wno-missing-field-initializers"])]


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        target = pathlib.Path(self.build_lib) / "cachekit_native" / "_lib"
        if not _bundling():
            shutil.rmtree(target, ignore_errors=True)  # a copy left by an earlier bundled build
            return
        target.mkdir(parents=True, exist_ok=True)
        copy = target / LIBRARY_NAME
        shutil.copyfile(_built_library(), copy)
        copy.chmod(0o755)
        strip = shutil.which("strip")
        if strip:  # the symbol table is half the file; the exported names stay (--strip-unneeded)
            subprocess.run([strip, "--strip-unneeded", str(copy)], check=True)


class LibraryDistribution(Distribution):
    def has_ext_modules(self):  # a bundled .so makes the wheel platform-specific (platlib, not purelib)
        return _bundling() or super().has_ext_modules()


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        if not _bundling() or self.distribution.ext_modules:  # the extension's tag is the interpreter's
            return super().get_tag()
        return "py3", "none", sysconfig.get_platform().replace("-", "_").replace(".", "_")


setup(distclass=LibraryDistribution, ext_modules=_speedups(),
      cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel})
