#!/usr/bin/env bash
# Builds and installs libcachekit with CMake into a temporary prefix, then checks what a host
# sees: no Swift runtime among its dependencies, a C program outside the tree built with
# `pkg-config --cflags --libs cachekit`, and a CMake project using find_package(cachekit).
# Writes "install: N passed, N failed" to $1.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/dev/null}
work=$(mktemp -d /tmp/cachekit-install.XXXXXX)
prefix="$work/prefix"
passed=0; failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }
finish() { echo "install: $passed passed, $failed failed" | tee "$out"; rm -rf "$work"; [ "$failed" -eq 0 ]; exit $?; }

if cmake -S "$root" -B "$root/.build/cmake" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null \
   && cmake --build "$root/.build/cmake" 2>&1 | grep -v "prohibited flag" | tail -n 2 \
   && cmake --install "$root/.build/cmake" >/dev/null; then
    pass "cmake build and install"
else
    fail "cmake build and install"; finish
fi
libdir=$(dirname "$(find "$prefix" -name 'libcachekit.so.0' | head -n 1)")
for f in "$prefix/include/cachekit.h" "$libdir/libcachekit.so" "$libdir/pkgconfig/cachekit.pc" \
         "$libdir/cmake/cachekit/cachekitConfig.cmake"; do
    if [ -e "$f" ]; then pass "installed ${f#"$prefix"/}"; else fail "missing ${f#"$prefix"/}"; fi
done

deps=$(ldd "$libdir/libcachekit.so")
if echo "$deps" | grep -qiE "swift|dispatch|Foundation|not found"; then
    fail "runtime dependencies are system libraries only:"; echo "$deps"
else
    pass "no Swift runtime needed at run time ($(echo "$deps" | wc -l) system libraries)"
fi

# A C program outside the tree, through pkg-config.
cp "$root/examples/consumer/consumer.c" "$work/"
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs cachekit)
if (cd "$work" && cc -std=c99 -Wall -Wextra -Werror -pedantic consumer.c $flags -Wl,-rpath,"$libdir" -o consumer-pc) \
   && "$work/consumer-pc"; then
    pass "pkg-config consumer ($flags)"
else
    fail "pkg-config consumer"
fi

# A CMake project outside the tree, through find_package.
mkdir -p "$work/cmake-consumer" "$work/consumer"
cp "$root/examples/cmake-consumer/CMakeLists.txt" "$work/cmake-consumer/"
cp "$root/examples/consumer/consumer.c" "$work/consumer/"
if cmake -S "$work/cmake-consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null \
   && cmake --build "$work/cmake-build" >/dev/null && "$work/cmake-build/consumer"; then
    pass "find_package(cachekit) consumer"
else
    fail "find_package(cachekit) consumer"
fi
finish
