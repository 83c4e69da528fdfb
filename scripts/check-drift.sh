#!/usr/bin/env bash
# Proves that the compiler holds the Swift exports to include/cachekit.h: in a scratch copy of the
# tree, change one declaration's parameter type and require the ABI build to fail with the
# `@implementation` mismatch. Writes "drift: N passed, N failed" to $1.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/dev/null}
export PATH="/opt/swift/usr/bin:$PATH"
work=$(mktemp -d /tmp/cachekit-drift.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -C "$root" --exclude='./.build*' --exclude='./.venv*' -cf - . | tar -C "$work" -xf -
header="$work/include/cachekit.h"
if ! grep -q 'int cachekit_xxh3_64(const uint8_t \*data, size_t len, uint64_t \*out);' "$header"; then
    echo "drift: 0 passed, 1 failed (declaration to alter not found)" | tee "$out"; exit 1
fi
sed -i 's/int cachekit_xxh3_64(const uint8_t \*data, size_t len, uint64_t \*out);/int cachekit_xxh3_64(const uint8_t *data, size_t len, uint32_t *out);/' "$header"
log="$work/build.log"
if (cd "$work" && swift build --target CachekitABI > "$log" 2>&1); then
    echo "a header/implementation mismatch built without error"
    echo "drift: 0 passed, 1 failed" | tee "$out"; exit 1
fi
if grep -q "does not match type" "$log" && grep -q "cachekit_xxh3_64" "$log"; then
    grep -m1 "does not match type" "$log"
    echo "drift: 1 passed, 0 failed" | tee "$out"
else
    tail -n 20 "$log"
    echo "drift: 0 passed, 1 failed (the build failed for another reason)" | tee "$out"; exit 1
fi
