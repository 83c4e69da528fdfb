#!/usr/bin/env bash
# Checks that libcachekit.so exports exactly the functions declared in include/cachekit.h:
# no missing export, no extra cachekit_ symbol and no other global symbol at all.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/dev/null}
lib=${CACHEKIT_LIBRARY_PATH:-$root/.build/release/libcachekit.so}
[ -f "$lib" ] || { echo "no library at $lib"; echo "symbols: 0 passed, 1 failed" > "$out"; exit 1; }
declared=$(gcc -E -P -I"$root/include" "$root/include/cachekit.h" \
    | grep -oE '\bcachekit_[a-z0-9_]+[[:space:]]*\(' | sed 's/[[:space:]]*($//' | sort -u)
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TWiV]$/ {print $3}' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
if [ -z "$missing" ] && [ -z "$extra" ]; then
    echo "exported symbols: $(echo "$declared" | wc -l) functions match the header"
    echo "symbols: 1 passed, 0 failed" > "$out"
    exit 0
fi
[ -n "$missing" ] && echo "declared but not exported: $missing"
[ -n "$extra" ] && echo "exported but not declared: $extra"
echo "symbols: 0 passed, 1 failed" > "$out"
exit 1
