#!/usr/bin/env bash
# Builds the libFuzzer harness (Sources/cachekit-fuzz: the exported functions and the Redis reply
# parsers, with the Swift code instrumented for coverage and AddressSanitizer) and runs every target
# for $FUZZ_SECONDS seconds each (default 4; the deep tier passes 600), or only the targets named in
# $FUZZ_TARGETS. Each target starts from its seeds in Tests/fuzz-corpus/<target>/ (crash inputs
# committed there replay first, as regression tests) plus seeds made from Tests/vectors, and prints
# its executions, exec/s and libFuzzer's cov:/ft:. Writes "fuzz: N passed, M failed" to $1.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/dev/null}
seconds=${FUZZ_SECONDS:-4}
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
# A broken invariant is a fatalError: its message goes to the log, not to the Swift backtracer
# (whose memory reader trips ASan).
export SWIFT_BACKTRACE=enable=no
report() { echo "fuzz: $1" | tee "$out"; }
# -enable-testing: the Redis targets reach the internal reply reader with @testable.
if ! CACHEKIT_FUZZ=1 swift build -c release --scratch-path .build-fuzz --product cachekit-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing 2>&1 | grep -E "error|Compiling|Build" ; then
    report "0 passed, 1 failed (build)"; exit 1
fi
harness="$root/.build-fuzz/release/cachekit-fuzz"
work="$root/.build-fuzz/fuzz"
rm -rf "$work/generated" && mkdir -p "$work/generated"
# Seeds from the wire vectors: envelopes, stored entries (with the mode/keyring byte the entry
# target reads), their MessagePack documents, and the entries as GET replies for the cache-read target.
python3 - "$work/generated" "$root/Tests/vectors" <<'PY'
import json, sys, pathlib
out, vectors = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def seed(target, name, data):
    (out / target).mkdir(exist_ok=True)
    (out / target / name).write_bytes(data)
for vector in json.loads((vectors / "wire-format.json").read_text())["vectors"]:
    data = bytes.fromhex(vector["envelope_hex"])
    for target in ("envelope", "envelope-roundtrip", "decrypt"):
        seed(target, vector["name"], data)
modes = {"minimal": 1}
for number, line in enumerate((vectors / "cachekit-py-0.24.1-entries.jsonl").read_text().splitlines()[1:]):
    row = json.loads(line)
    mode = modes.get(row["mode"], 2 if row["mode"].startswith("interop") else 0)
    value = bytes.fromhex(row["value_hex"])
    seed("entry-decode", f"entry-{number}", bytes([mode | (4 if row["encrypted"] else 0)]) + value)
    seed("msgpack", f"document-{number}", bytes.fromhex(row["expected_inner_msgpack_hex"]))
    if not row["encrypted"]:
        seed("cache-read", f"entry-{number}", bytes([mode]) + b"$%d\r\n" % len(value) + value + b"\r\n")
PY
passed=0 failed=0
targets=${FUZZ_TARGETS:-$(ls "$root/Tests/fuzz-corpus")}
printf '%-20s %10s %8s %7s %7s\n' target runs exec/s cov ft
for target in $targets; do
    corpus="$work/corpus/$target" artifacts="$work/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    seeds=("$root/Tests/fuzz-corpus/$target")
    [ -d "$work/generated/$target" ] && seeds+=("$work/generated/$target")
    # New inputs go to the first folder (the build's); the committed seeds stay as they are.
    CACHEKIT_FUZZ_TARGET="$target" "$harness" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus" "${seeds[@]}" > "$artifacts/fuzz.log" 2>&1
    status=$?
    runs=$(grep -oE "stat::number_of_executed_units: +[0-9]+" "$artifacts/fuzz.log" | grep -oE "[0-9]+$")
    rate=$(grep -oE "stat::average_exec_per_sec: +[0-9]+" "$artifacts/fuzz.log" | grep -oE "[0-9]+$")
    last=$(grep -E " cov: " "$artifacts/fuzz.log" | tail -n 1)
    cov=$(grep -oE "cov: [0-9]+" <<<"$last" | grep -oE "[0-9]+") ft=$(grep -oE "ft: [0-9]+" <<<"$last" | grep -oE "[0-9]+")
    printf '%-20s %10s %8s %7s %7s\n' "$target" "${runs:--}" "${rate:--}" "${cov:--}" "${ft:--}"
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        tail -n 40 "$artifacts/fuzz.log"
        echo "$target: crash or failure, input and log in $artifacts"
    fi
done
if [ "$failed" -eq 0 ]; then report "$passed passed, 0 failed"; else report "$passed passed, $failed failed"; exit 1; fi
