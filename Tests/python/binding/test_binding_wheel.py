"""The package carries its library: `pip install ./bindings/python` and scripts/wheel.sh.

Each installs into a fresh venv and runs there the way a user without the build would: no Swift
on PATH, no CACHEKIT_LIBRARY_PATH, no pkg-config entry, from another directory.
"""
import os
import pathlib
import subprocess
import sys
import textwrap

from support.abi import BINDINGS, ROOT

import cachekit_native

# Runs in the fresh venv: the library it loaded, a round trip through it, and where each of
# libcachekit's own dependencies was mapped from.
PROBE = textwrap.dedent("""
    import json, cachekit_native
    from cachekit_native import Cache
    with Cache(from_env=False) as c:
        c.set("k", b"\\xa2ok")
        value = c.get("k")
    maps = open("/proc/self/maps").read().split()
    deps = sorted({p for p in maps if any(n in p for n in ("libhiredis", "liblz4", "libxxhash", "libb2", "libcrypto"))})
    from cachekit_native import _fast
    import pathlib
    package = pathlib.Path(cachekit_native.__file__).parent
    typed = sorted(p.name for p in package.iterdir() if p.name == "py.typed" or p.suffix == ".pyi")
    print(json.dumps({"library": cachekit_native.library_path(), "version": cachekit_native.library_version(),
                      "value": value.hex(), "deps": deps, "speedups": _fast.available(), "typed": typed}))
""")


def user_environment():
    """What a user's shell has: no toolchain, none of the build's variables."""
    keep = {"HOME", "LANG", "TMPDIR"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    return env


def fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    return venv / "bin" / "python"


def install(python, target):
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(target)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout + pip.stderr


def probe(python):
    import json
    run = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True, cwd="/", timeout=60,
                         env=user_environment())
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_pip_install_of_the_binding_builds_and_carries_the_library(tmp_path):
    python = fresh_venv(tmp_path)
    install(python, BINDINGS)  # the test command has Swift on PATH: setup.py builds the library
    report = probe(python)
    assert report["library"].startswith(str(tmp_path / "venv")), report
    assert report["library"].endswith("cachekit_native/_lib/libcachekit.so")
    assert report["version"] == cachekit_native.__version__
    assert report["value"] == "a26f6b"
    assert report["speedups"], "the installed package lacks its C hit path"
    assert report["typed"] == ["_speedups.pyi", "py.typed"]  # PEP 561: typed, the extension's stub included


def test_the_self_contained_wheel_runs_on_its_own_copies_of_every_library(tmp_path):
    built = subprocess.run([str(ROOT / "scripts" / "wheel.sh"), str(tmp_path / "dist")],
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr
    wheel = pathlib.Path(built.stdout.strip().splitlines()[-1])
    # The C hit path makes it a wheel for this interpreter (cp3XX-cp3XX-manylinux_...).
    abi = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert wheel.name.startswith(f"cachekit_native-{cachekit_native.__version__}-{abi}-{abi}-manylinux_"), wheel.name
    python = fresh_venv(tmp_path)
    install(python, wheel)
    report = probe(python)
    venv = str(tmp_path / "venv")
    assert report["library"].startswith(venv), report
    assert report["value"] == "a26f6b" and report["speedups"]
    # Each of libcachekit's dependencies is mapped from the wheel's own copy (cachekit_native.libs).
    # (Python's hashlib may map the system libcrypto too: that copy is the interpreter's, not ours.)
    bundled = [p for p in report["deps"] if p.startswith(venv) and "/cachekit_native.libs/" in p]
    for name in ("libhiredis", "liblz4", "libxxhash", "libb2", "libcrypto"):
        assert any(pathlib.Path(p).name.startswith(name + "-") for p in bundled), (name, report["deps"])


def test_building_without_a_toolchain_or_a_library_fails_with_the_choices(tmp_path):
    env = {**user_environment(), "CACHEKIT_SOURCE_ROOT": str(tmp_path)}  # no Package.swift there
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
                          "-w", str(tmp_path / "out"), str(BINDINGS)], capture_output=True, text=True, timeout=600,
                         env=env)
    assert run.returncode != 0
    assert "CACHEKIT_NATIVE_LIBRARY" in run.stdout + run.stderr and "CACHEKIT_NATIVE_BUNDLE=0" in run.stdout + run.stderr
