#!/usr/bin/env bash
# Builds the libFuzzer harness (Sources/cachekit-fuzz: the exported functions, with the Swift code
# instrumented for coverage and AddressSanitizer) and runs it for $FUZZ_SECONDS (default 60) from a
# seed corpus of the shared wire vectors. Writes "fuzz: 1 passed, 0 failed" (or failed) to $1.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/dev/null}
seconds=${FUZZ_SECONDS:-60}
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
report() { echo "fuzz: $1" | tee "$out"; }
if ! CACHEKIT_FUZZ=1 swift build -c release --scratch-path .build-fuzz --product cachekit-fuzz \
        -Xswiftc -sanitize=fuzzer,address 2>&1 | grep -E "error|Compiling|Build" ; then
    report "0 passed, 1 failed (build)"; exit 1
fi
corpus="$root/.build-fuzz/corpus"
artifacts="$root/.build-fuzz/artifacts"
mkdir -p "$corpus" "$artifacts"
python3 - "$corpus" "${CACHEKIT_SHARED_DIR:-$root/../shared}/vectors/wire-format.json" <<'PY'
import json, sys, pathlib
corpus = pathlib.Path(sys.argv[1])
for vector in json.loads(pathlib.Path(sys.argv[2]).read_text())["vectors"]:
    data = bytes.fromhex(vector["envelope_hex"])
    for selector in range(3):
        (corpus / f"{vector['name']}-{selector}").write_bytes(bytes([selector]) + data)
PY
if "$root/.build-fuzz/release/cachekit-fuzz" -max_total_time="$seconds" -max_len=8192 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus" > "$artifacts/fuzz.log" 2>&1; then
    grep -E "^Done|stat::number_of_executed_units|cov:" "$artifacts/fuzz.log" | tail -n 2
    report "1 passed, 0 failed"
else
    tail -n 40 "$artifacts/fuzz.log"
    report "0 passed, 1 failed (crash: see $artifacts)"
    exit 1
fi
