#!/usr/bin/env bash
# Installs the Debian packages libcachekit builds and tests with, when any is missing.
# redis-tools: redis-cli, which joins the test and benchmark clusters (redis-cli --cluster create).
set -euo pipefail
# prometheus: promtool, which checks the metrics exposition in the Python tests.
packages=(pkg-config libssl-dev openssl liblz4-dev libxxhash-dev libhiredis-dev libb2-dev redis-server redis-tools cmake python3-venv valgrind prometheus)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian starts a system redis-server on 6379 when it installs one; the tests use their own port.
