#!/usr/bin/env bash
# cachekit-py's own public-behaviour tests against cachekit_native (issue 15 item 6; optional,
# not in the default tier: see docs/python.md "cachekit-py's own tests").
#
#   scripts/peer-suite.sh [CACHEKIT_PY_CHECKOUT]
#
# Tests come from the cachekit 0.24.1 sdist on PyPI when it carries them (0.24.1's does not), else
# from the cachekit-py checkout given as the argument; they are copied into a temp dir, never into
# this repository. The selection (scripts/peer_suite.py) runs twice against a private
# redis-server: with the real cachekit (the baseline), then, restricted to the tests the baseline
# passed, with `cachekit` mapped to cachekit_native by a generated shim package. Each run prints
# its counts and its top failure causes (PEER_SUITE_KEEP=DIR keeps the logs and JUnit files). PYTHON and CACHEKIT_LIBRARY_PATH as for scripts/test.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$("$root/scripts/python-env.sh")}
export CACHEKIT_LIBRARY_PATH=${CACHEKIT_LIBRARY_PATH:-$root/.build/release/libcachekit.so}
[ -f "$CACHEKIT_LIBRARY_PATH" ] || { echo "peer-suite: no library at $CACHEKIT_LIBRARY_PATH" >&2; exit 2; }
work=$(mktemp -d /tmp/cachekit-peer-suite.XXXXXX)
trap 'rm -rf "$work"' EXIT

source_dir=
# The sdist is fetched as pip fetches it (the simple index): `pip download --no-binary` would
# first try to build it, which needs a Rust toolchain.
"$python" - "$work/sdist" <<'PY' || true
import io, re, sys, tarfile, urllib.request
page = urllib.request.urlopen("https://pypi.org/simple/cachekit/", timeout=60).read().decode()
link = re.search(r'href="([^"#]*cachekit-0\.24\.1\.tar\.gz)', page)
if link:
    data = urllib.request.urlopen(link.group(1), timeout=120).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(sys.argv[1], filter="data")
PY
if [ -d "$work/sdist/cachekit-0.24.1/tests" ]; then
    source_dir="$work/sdist/cachekit-0.24.1"
    echo "peer-suite: tests from the cachekit 0.24.1 sdist"
elif [ $# -ge 1 ]; then
    source_dir=$1
    echo "peer-suite: the 0.24.1 sdist carries no tests; tests from $source_dir"
else
    echo "peer-suite: the cachekit 0.24.1 sdist carries no tests; pass a cachekit-py checkout" >&2
    exit 2
fi

# pytest-asyncio runs cachekit-py's async tests; installed into the temp dir when missing.
extra=
if ! "$python" -c "import pytest_asyncio" 2>/dev/null; then
    "$python" -m pip install -q --disable-pip-version-check --no-deps --target "$work/deps" pytest-asyncio >&2
    extra="$work/deps"
fi

"$python" "$root/scripts/peer_suite.py" prepare "$source_dir" "$work/run"
"$python" "$root/scripts/peer_suite.py" shim "$work/shim"

run() {  # run NAME PYTHONPATH-prefix TEST-PATHS-FILE [extra env]
    local name=$1 prefix=$2 paths=$3; shift 3
    echo "== $name"
    (cd "$work/run" && env PEER_SUITE_REPO="$root" PYTHONPATH="$prefix${extra:+:$extra}" "$@" \
        "$python" -m pytest -q -p no:cacheprovider -o addopts= --import-mode=importlib --continue-on-collection-errors --junitxml="$work/$name.xml" $(cat "$paths") \
        >"$work/$name.log" 2>&1) || true
    "$python" "$root/scripts/peer_suite.py" summarize "$work/$name.xml"
}
# The baseline: the real cachekit; the tests it passes are the comparison set.
echo tests >"$work/all.txt"
run baseline "" "$work/all.txt" PEER_SUITE_PASSED="$work/passed.txt"
keep() { [ -z "${PEER_SUITE_KEEP:-}" ] || cp "$work"/*.log "$work"/*.xml "$PEER_SUITE_KEEP"/; }
[ -s "$work/passed.txt" ] || { keep; echo "peer-suite: the baseline passed nothing" >&2; tail -20 "$work/baseline.log" >&2; exit 1; }
# cachekit_native: the shim first on the path, so `import cachekit` finds it, not the real one.
sed 's/::.*//' "$work/passed.txt" | sort -u >"$work/passed-files.txt"
run cachekit_native "$work/shim:$root/bindings/python" "$work/passed-files.txt" PEER_SUITE_ONLY="$work/passed.txt"
keep
