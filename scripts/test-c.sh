#!/usr/bin/env bash
# Compiles each Tests/c/test_*.c as strict C99 against include/cachekit.h, links it to the built
# libcachekit.so and runs it. Each test prints "NAME: N passed, N failed"; they go to $1.
# CACHEKIT_TEST_CFLAGS are added to the compile (the deep tier's -fsanitize=undefined),
# CACHEKIT_TEST_LIBS to the end of the link, and CACHEKIT_TEST_PRELOAD is preloaded into each test
# program only (the deep tier's sanitizer runtime).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/dev/null}
lib_dir=$("$root/scripts/stage-lib.sh") || exit 1
bin_dir="$root/.build/c-tests"
mkdir -p "$bin_dir"
: > "$out.tmp"
status=0
for source in "$root"/Tests/c/test_*.c; do
    name=$(basename "$source" .c)
    # shellcheck disable=SC2086 # CACHEKIT_TEST_CFLAGS and _LIBS are lists of flags
    if ! cc -std=c99 -Wall -Wextra -Werror -pedantic ${CACHEKIT_TEST_CFLAGS:-} -I"$root/include" -o "$bin_dir/$name" \
            "$source" -L"$lib_dir" -Wl,-rpath,"$lib_dir" -lcachekit -lpthread ${CACHEKIT_TEST_LIBS:-}; then
        echo "$name: 0 passed, 1 failed (does not compile)" | tee -a "$out.tmp"
        status=1
        continue
    fi
    if ! (cd "$root" && env ${CACHEKIT_TEST_PRELOAD:+LD_PRELOAD="$CACHEKIT_TEST_PRELOAD"} "$bin_dir/$name") \
            > "$bin_dir/$name.log" 2>&1; then status=1; fi
    cat "$bin_dir/$name.log"
    grep -E "passed, [0-9]+ failed" "$bin_dir/$name.log" | tail -n 1 >> "$out.tmp" \
        || { echo "$name: 0 passed, 1 failed (crashed)" >> "$out.tmp"; status=1; }
done
cat "$out.tmp" > "$out" 2>/dev/null || true
rm -f "$out.tmp"
exit $status
