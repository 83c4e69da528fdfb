#!/usr/bin/env bash
# Runs every libcachekit test on a fresh machine: installs the Debian and PyPI packages it needs,
# builds the library, then runs the Swift core tests, the C ABI tests, the export check, the
# Python tests (ctypes, and live interop with the real cachekit package through a redis-server
# the tests start themselves), the CMake/pkg-config install check and a libFuzzer run.
# --deep adds the deep tier (scripts/test-deep.sh: the C and Python tests against AddressSanitizer
# and UndefinedBehaviorSanitizer builds, then every fuzz target for 10 minutes; docs/DEVELOPING.md says how long it takes).
# Ends with one line: "tests: N passed, N failed".
set -uo pipefail
deep=0
for argument in "$@"; do
    case "$argument" in
        --deep) deep=1 ;;
        *) echo "usage: scripts/test.sh [--deep]" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
results="$root/.build/test-results"
rm -rf "$results" && mkdir -p "$results"
failed_stages=()

stage() { printf '\n=== %s ===\n' "$1"; }
run_stage() { # name, command...
    local name=$1; shift
    stage "$name"
    if ! "$@"; then failed_stages+=("$name"); fi
}

stage "install dependencies"
scripts/install-deps.sh || { echo "dependency install failed"; exit 1; }
python=$(scripts/python-env.sh) || { echo "python environment failed"; exit 1; }

stage "build (release)"
swift build -c release 2>&1 | grep -v "prohibited flag" || true
if [ ! -f .build/release/libcachekit.so ]; then echo "release build failed"; exit 1; fi
export CACHEKIT_LIBRARY_PATH="$root/.build/release/libcachekit.so"

run_stage "swift test" swift test --xunit-output "$results/swift.xml"
run_stage "swift test under ThreadSanitizer" scripts/check-tsan.sh "$results/tsan.txt"
run_stage "C ABI tests" scripts/test-c.sh "$results/c.txt"
run_stage "exported symbols" scripts/check-symbols.sh "$results/symbols.txt"
run_stage "header drift fails the build" scripts/check-drift.sh "$results/drift.txt"
run_stage "python tests" "$python" -m pytest -q Tests/python --junitxml "$results/python.xml"
run_stage "install: CMake, pkg-config" scripts/check-install.sh "$results/install.txt"
run_stage "fuzz every target briefly (libFuzzer + ASan)" scripts/fuzz.sh "$results/fuzz.txt"
if [ "$deep" -eq 1 ]; then
    run_stage "deep tier: ASan and UBSan builds under the C and Python tests" \
        env PYTHON="$python" scripts/test-deep.sh "$results/deep.txt"
    # The deep tier re-points .build/lib at its sanitized builds; later programs get the release one.
    scripts/stage-lib.sh > /dev/null
fi

stage "summary"
"$python" scripts/summarize-tests.py "$results"
summary_status=$?
if [ ${#failed_stages[@]} -gt 0 ]; then
    echo "failed stages: ${failed_stages[*]}"
    exit 1
fi
exit $summary_status
