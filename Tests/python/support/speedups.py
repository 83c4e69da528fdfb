"""Builds cachekit_native's C hit path (bindings/python/cachekit_native/_speedups.c) in the tree,
so the tests, which import the tree's package, run it as an installed wheel would.

Compiled with the interpreter's own compiler and headers (sysconfig), and rebuilt when the
source or the header is newer than the built module. A machine with a compiler and Python.h
that fails to build it fails the test run; one without either runs the ctypes path only, and
test_binding_speedups.py says so.
"""
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import sysconfig

ROOT = pathlib.Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "bindings" / "python" / "cachekit_native"
SOURCE = PACKAGE / "_speedups.c"
HEADER = ROOT / "include" / "cachekit.h"
TARGET = PACKAGE / f"_speedups{sysconfig.get_config_var('EXT_SUFFIX')}"
FLAGS = ["-shared", "-fPIC", "-O2", "-g", "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
         "-Wno-missing-field-initializers"]


def compiler() -> list[str] | None:
    """The interpreter's C compiler command, when it and Python.h are on this machine."""
    command = shlex.split(sysconfig.get_config_var("CC") or "cc")
    if shutil.which(command[0]) is None or not (pathlib.Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return None
    return command


def can_build() -> bool:
    return compiler() is not None


def build_in_place() -> None:
    command = compiler()
    if command is None:
        print("cachekit_native._speedups not built: no C compiler or no Python.h; the ctypes path runs alone",
              file=sys.stderr)
        return
    if TARGET.exists() and TARGET.stat().st_mtime >= max(SOURCE.stat().st_mtime, HEADER.stat().st_mtime):
        return
    partial = TARGET.with_name(f"{TARGET.name}.{os.getpid()}.tmp")
    run = subprocess.run([*command, *FLAGS, f"-I{sysconfig.get_paths()['include']}", f"-I{HEADER.parent}",
                          str(SOURCE), "-o", str(partial)], capture_output=True, text=True)
    if run.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"building {SOURCE.name} failed:\n{run.stdout}{run.stderr}")
    partial.replace(TARGET)  # atomic: a concurrent run never imports half a file
