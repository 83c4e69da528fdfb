#!/usr/bin/env bash
# The deep tier (scripts/test.sh --deep runs it after the default tier): the library built in
# debug with AddressSanitizer (Swift and C) and, separately, with UndefinedBehaviorSanitizer on
# its C code (Swift has no -sanitize=undefined: its overflow, bounds and exclusivity checks are
# always on in a debug build), each in its own scratch folder; the C tests and the Python tests
# run against each build with the sanitizer runtime preloaded. Any sanitizer report fails the
# stage, as does any failing test. Then every libFuzzer target (scripts/fuzz.sh) runs for
# $DEEP_FUZZ_SECONDS seconds each (default 600: 16 targets, about 2.7 hours). Writes "asan: ...",
# "ubsan: ..." and "deep fuzz: ..." lines to $1.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/dev/null}
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
runtimes=$(dirname "$(command -v swift)")/../lib/swift/clang/lib/linux
python=${PYTHON:-$(scripts/python-env.sh)} || { echo "python environment failed"; exit 1; }
: > "$out"
status=0

# name, scratch folder, sanitizer runtime, swift build flags...
sanitized_run() {
    local name=$1 scratch=$2 runtime=$3; shift 3
    local logs="$root/$scratch/reports" started=$SECONDS
    rm -rf "$logs" && mkdir -p "$logs"
    printf '\n=== %s: build ===\n' "$name"
    if ! swift build -c debug --product cachekit --scratch-path "$scratch" "$@" > "$logs/build.log" 2>&1; then
        grep -E "error:" "$logs/build.log" | head -n 20
        echo "$name: 0 passed, 1 failed (build)" | tee -a "$out"; status=1; return
    fi
    tail -n 1 "$logs/build.log"
    local lib="$root/$scratch/debug/libcachekit.so"
    # Reports go to files (log_path), so none is lost in a test's captured output; Python and
    # the compilers are not instrumented, so leak checking is off.
    local options="log_path=$logs/report:halt_on_error=0:detect_leaks=0:print_stacktrace=1"
    printf '\n=== %s: C tests ===\n' "$name"
    # The sanitized library leaves the runtime's symbols to the program: the C tests link it too.
    CACHEKIT_LIBRARY_PATH="$lib" CACHEKIT_TEST_PRELOAD="$runtime" \
        CACHEKIT_TEST_CFLAGS="${CFLAGS_EXTRA:-}" CACHEKIT_TEST_LIBS="$runtime -Wl,-rpath,$(dirname "$runtime")" \
        ASAN_OPTIONS="$options" UBSAN_OPTIONS="$options" scripts/test-c.sh "$logs/c.txt" > "$logs/c.log" 2>&1
    local c_status=$?
    cat "$logs/c.txt"
    printf '\n=== %s: Python tests ===\n' "$name"
    CACHEKIT_LIBRARY_PATH="$lib" CACHEKIT_TEST_DEEP=1 LD_PRELOAD="$runtime" \
        ASAN_OPTIONS="$options" UBSAN_OPTIONS="$options" \
        "$python" -m pytest -q -p no:cacheprovider Tests/python > "$logs/python.log" 2>&1
    local py_status=$?
    tail -n 1 "$logs/python.log"
    local reports
    reports=$(cat "$logs"/report.* 2>/dev/null | grep -cE "ERROR: AddressSanitizer|runtime error:")
    local summary="C exit $c_status, Python exit $py_status, $reports sanitizer reports, $((SECONDS - started)) s"
    if [ "$c_status" -eq 0 ] && [ "$py_status" -eq 0 ] && [ "$reports" -eq 0 ]; then
        echo "$name: 1 passed, 0 failed ($summary)" | tee -a "$out"
    else
        cat "$logs"/report.* 2>/dev/null | head -n 60
        echo "$name: 0 passed, 1 failed ($summary; logs in $logs)" | tee -a "$out"
        status=1
    fi
}

sanitized_run asan .build-asan "$runtimes/libclang_rt.asan-x86_64.so" --sanitize=address
CFLAGS_EXTRA="-fsanitize=undefined" sanitized_run ubsan .build-ubsan "$runtimes/libclang_rt.ubsan_standalone-x86_64.so" \
    -Xcc -fsanitize=undefined

printf '\n=== fuzz: every target for %s s ===\n' "${DEEP_FUZZ_SECONDS:-600}"
FUZZ_SECONDS=${DEEP_FUZZ_SECONDS:-600} scripts/fuzz.sh "$root/.build-fuzz/deep-fuzz.txt" || status=1
sed 's/^fuzz:/deep fuzz:/' "$root/.build-fuzz/deep-fuzz.txt" >> "$out"
exit $status
