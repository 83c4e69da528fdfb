#!/usr/bin/env bash
# Links the built libcachekit.so under its soname (libcachekit.so.0) in .build/lib and prints that
# directory, for programs linked against it in the tree (C tests, benchmarks, the demo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=${CACHEKIT_LIBRARY_PATH:-$root/.build/release/libcachekit.so}
[ -f "$lib" ] || { echo "no library at $lib" >&2; exit 1; }
dir="$root/.build/lib"
mkdir -p "$dir"
ln -sf "$lib" "$dir/libcachekit.so"
ln -sf "$lib" "$dir/libcachekit.so.0"
echo "$dir"
