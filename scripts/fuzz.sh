#!/usr/bin/env bash
# Builds the libFuzzer harness (Sources/cachekit-fuzz: the exported functions, with the Swift code
# instrumented for coverage and AddressSanitizer) and runs it for $FUZZ_SECONDS (default 60) from a
# seed corpus of the wire vectors in Tests/vectors. Writes "fuzz: 1 passed, 0 failed" (or failed) to $1.
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
python3 - "$corpus" "$root/Tests/vectors/wire-format.json" <<'PY'
import json, sys, pathlib
corpus = pathlib.Path(sys.argv[1])
for vector in json.loads(pathlib.Path(sys.argv[2]).read_text())["vectors"]:
    data = bytes.fromhex(vector["envelope_hex"])
    for selector in range(3):
        (corpus / f"{vector['name']}-{selector}").write_bytes(bytes([selector]) + data)
# Stored entries of every mode (selector 4: entry decode with a mode/keyring byte; 5: documents).
entries = pathlib.Path(sys.argv[2]).with_name("cachekit-py-0.24.1-entries.jsonl")
for number, line in enumerate(entries.read_text().splitlines()[1:]):
    row = json.loads(line)
    mode = {"minimal": 1}.get(row["mode"], 2 if row["mode"].startswith("interop") else 0)
    flags = 4 if row["encrypted"] else 0
    (corpus / f"entry-{number}").write_bytes(bytes([4, mode | flags]) + bytes.fromhex(row["value_hex"]))
    (corpus / f"document-{number}").write_bytes(bytes([5]) + bytes.fromhex(row["expected_inner_msgpack_hex"]))
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
