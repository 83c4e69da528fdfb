#!/usr/bin/env bash
# Builds the release library and runs benchmark programs (bench/bench_*.c and bench/bench_*.py, or
# the names given: scripts/bench.sh envelope crypto python). Each C program compares libcachekit
# with the raw C libraries in one run; bench_python.py compares the Python binding with cachekit-py
# in one process. Each prints ratios. Benchmarks are programs, never timed assertions in tests.
#
# scripts/bench.sh --instructions [l1 keys entries]: runs bench/bench_instructions.c under
# valgrind's callgrind and prints instructions per operation of each hot path for libcachekit and
# its raw-C baseline side by side (repeatable on a noisy shared machine, unlike nanoseconds);
# CACHEKIT_BENCH_OPS sets the loop length, CACHEKIT_BENCH_PROFILE_DIR keeps the dumps for
# callgrind_annotate.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
scripts/install-deps.sh
swift build -c release --product cachekit 2>&1 | grep -v "prohibited flag" || true
lib_dir=$(scripts/stage-lib.sh)
bin_dir="$root/.build/bench"
mkdir -p "$bin_dir"
instructions=0
if [ "${1:-}" = "--instructions" ]; then instructions=1; shift; fi
names=("$@")
build_bench() {  # name [library dir]: compiles bench/bench_NAME.c against the staged library
    local dir=${2:-$lib_dir}
    cc -std=c11 -O2 -Wall -Wextra -I"$root/include" -o "$bin_dir/$1" "bench/bench_$1.c" \
        -L"$dir" -Wl,-rpath,"$dir" -lcachekit \
        $(pkg-config --libs liblz4 libxxhash libssl libcrypto hiredis libb2) -lpthread -lm
}
if [ "$instructions" = 1 ]; then
    command -v valgrind >/dev/null || { echo "--instructions needs valgrind (apt-get install valgrind)" >&2; exit 1; }
    # Valgrind 3.19 cannot read the DWARF 5 the Swift toolchain emits: profile a copy without
    # debug sections (the symbol table stays, so functions keep their names).
    profile_lib="$bin_dir/profile-lib"
    mkdir -p "$profile_lib"
    objcopy --strip-debug "$(readlink -f "$lib_dir/libcachekit.so")" "$profile_lib/libcachekit.so.0"
    ln -sf libcachekit.so.0 "$profile_lib/libcachekit.so"
    build_bench instructions "$profile_lib"
    dumps=${CACHEKIT_BENCH_PROFILE_DIR:-$(mktemp -d)}
    mkdir -p "$dumps"
    rm -f "$dumps"/callgrind.out*
    CACHEKIT_BENCH_OPS=${CACHEKIT_BENCH_OPS:-2000} valgrind --tool=callgrind --dump-instr=no \
        --callgrind-out-file="$dumps/callgrind.out" "$bin_dir/instructions" "${names[@]}" >/dev/null 2>"$dumps/valgrind.log" \
        || { cat "$dumps/valgrind.log" >&2; exit 1; }
    echo "=== instructions per operation (callgrind) ==="
    # Each dump's description names the path, the side and the loop length; its summary line
    # holds the instructions executed in the loop.
    printf "%-14s %14s %14s %8s\n" path libcachekit "raw C" ratio
    for dump in "$dumps"/callgrind.out.*; do
        awk '/^desc: Trigger: Client Request: / { sub(/^desc: Trigger: Client Request: /, ""); name = $0 }
             /^summary: / { print name, $2 }' "$dump"
    done | sort -s -k1,1 | awk '
        { ops = $3; per = $4 / ops; if ($2 == "raw") raw[$1] = per; else ours[$1] = per; seen[$1] = 1 }
        END {
            for (p in seen) printf "%-14s %14.0f %14.0f %7.2fx\n", p, ours[p], raw[p], (raw[p] > 0 ? ours[p] / raw[p] : 0)
        }' | sort
    [ -n "${CACHEKIT_BENCH_PROFILE_DIR:-}" ] || rm -rf "$dumps"
    exit 0
fi
if [ ${#names[@]} -eq 0 ]; then
    for source in bench/bench_*.c bench/bench_*.py; do
        names+=("$(basename "$source" | sed 's/^bench_//; s/\.[a-z]*$//')")
    done
fi
# bench_cache runs the L1 hit-ratio simulator, a Swift executable over the core (docs/cache.md).
if [[ " ${names[*]} " == *" cache "* ]]; then
    swift build -c release --product cachekit-bench-l1 2>&1 | grep -v "prohibited flag" || true
fi
for name in "${names[@]}"; do
    if [ -f "bench/bench_$name.py" ]; then
        echo "=== bench: $name ==="
        CACHEKIT_LIBRARY_PATH="$lib_dir/libcachekit.so" "$(scripts/python-env.sh)" "bench/bench_$name.py"
        continue
    fi
    build_bench "$name"
    echo "=== bench: $name ==="
    "$bin_dir/$name"
done
