#!/usr/bin/env bash
# Creates .venv-test with the Python packages the tests need (the real cachekit peer among them)
# and prints its python path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-test"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
# Pinned: the peer under test, and the versions of the test helpers this suite was verified with.
requirements=("cachekit==0.24.1" "blake3==1.0.11" "cryptography==50.0.2" "msgpack==1.2.4" "orjson==3.13.0" "pandas==3.1.1" "prometheus_client==0.26.0" "pyarrow==26.0.1" "pytest==9.2.0" "redis==8.1.0")
if ! "$venv/bin/python" - "${requirements[@]}" <<'PY' 2>/dev/null; then
import importlib.metadata as metadata, sys
for requirement in sys.argv[1:]:
    name, version = requirement.split("==")
    if metadata.version(name) != version:
        sys.exit(1)
PY
    "$venv/bin/pip" install -q --disable-pip-version-check "${requirements[@]}" >&2
fi
# The Python binding, installed once (the tests import the tree's copy first, so a stale install
# does not matter; test_binding_wheel.py checks `pip install ./bindings/python` in a fresh venv).
if ! (cd / && "$venv/bin/python" -c "import cachekit_native") 2>/dev/null; then
    # No copy of the library inside (CACHEKIT_NATIVE_BUNDLE=0): the tests name theirs explicitly.
    CACHEKIT_NATIVE_BUNDLE=0 "$venv/bin/pip" install -q --disable-pip-version-check "$root/bindings/python" >&2
fi
echo "$venv/bin/python"
