#!/usr/bin/env bash
# Builds libcachekit (release) and runs the demo program, a C host using the library on its
# embedded default (no Redis needed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
scripts/install-deps.sh
swift build -c release --product cachekit 2>&1 | grep -v "prohibited flag" || true
lib_dir=$(scripts/stage-lib.sh)
cc -std=c99 -Wall -Wextra -O2 -I include examples/demo.c -L"$lib_dir" -Wl,-rpath,"$lib_dir" -lcachekit \
    -o .build/cachekit-demo
echo
.build/cachekit-demo
