#!/usr/bin/env bash
# Builds the release library and runs benchmark programs (bench/bench_*.c and bench/bench_*.py, or
# the names given: scripts/bench.sh envelope crypto python). Each C program compares libcachekit
# with the raw C libraries in one run; bench_python.py compares the Python binding with cachekit-py
# in one process. Each prints ratios. Benchmarks are programs, never timed assertions in tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
scripts/install-deps.sh
swift build -c release --product cachekit 2>&1 | grep -v "prohibited flag" || true
lib_dir=$(scripts/stage-lib.sh)
bin_dir="$root/.build/bench"
mkdir -p "$bin_dir"
names=("$@")
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
    source="bench/bench_$name.c"
    cc -std=c11 -O2 -Wall -Wextra -I"$root/include" -o "$bin_dir/$name" "$source" \
        -L"$lib_dir" -Wl,-rpath,"$lib_dir" -lcachekit \
        $(pkg-config --libs liblz4 libxxhash libssl libcrypto hiredis libb2) -lpthread -lm
    echo "=== bench: $name ==="
    "$bin_dir/$name"
done
