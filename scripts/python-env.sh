#!/usr/bin/env bash
# Creates .venv-test with the Python packages the tests need (the real cachekit peer among them)
# and prints its python path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-test"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "import blake3, cachekit, cryptography, msgpack, pytest, redis" 2>/dev/null \
   || [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("cachekit"))')" != "0.24.1" ]; then
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "cachekit==0.24.1" blake3 cryptography msgpack pytest redis >&2
fi
# The Python binding, installed once (the tests import the tree's copy first, so a stale install
# does not matter; test_native_loader.py checks `pip install ./bindings/python` in a fresh venv).
if ! (cd / && "$venv/bin/python" -c "import cachekit_native") 2>/dev/null; then
    "$venv/bin/pip" install -q --disable-pip-version-check "$root/bindings/python" >&2
fi
echo "$venv/bin/python"
