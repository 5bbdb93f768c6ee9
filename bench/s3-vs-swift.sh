#!/usr/bin/env bash
# The S3 API against the Swift API of the same `stratus up`, one run: the
# same stratus-bench workloads (4 KiB and 64 MiB PUT and GET) through each
# front, printed side by side with S3's share of the Swift figure.
#   bench/s3-vs-swift.sh [seconds-per-line] [concurrency]   # default 5 16
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; conc=${2:-16}
cargo build -q --release --locked -p stratus-cli -p stratus-bench
work=$(mktemp -d)
sport=$((20000 + RANDOM % 12000)); pport=$((sport + 30)); iport=$((sport + 31))
target/release/stratus up --data-dir "$work" --proxy-port $pport --storage-port $sport \
    --identity-port $iport 2>"$work/up.log" &
up=$!
trap 'kill $up 2>/dev/null || true; wait $up 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$iport/v3 >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:$iport/v3 >/dev/null || { cat "$work/up.log" >&2; exit 1; }
envv() { sed -n "s/^export $1=//p" "$work/stratus.env"; }
s3() {
    target/release/stratus-bench --target 127.0.0.1:$pport --protocol s3 --container s3bench \
        --user "$(envv AWS_ACCESS_KEY_ID)" --key "$(envv AWS_SECRET_ACCESS_KEY)" --json "$@"
}
swift() {
    target/release/stratus-bench --target 127.0.0.1:$pport --protocol swift --auth /auth/v1.0 \
        --container swiftbench --user test:tester --key "$(cat "$work/tester.key")" --json "$@"
}
printf "%-22s %12s %12s %8s   %s\n" "workload (conc $conc)" "S3" "Swift" "S3/Swift" "p99 ms S3 / Swift"
line() { # name, unit, then arguments
    a=$(s3 "${@:3}"); b=$(swift "${@:3}")
    python3 - "$1" "$2" "$a" "$b" <<'PY'
import json, sys
name, unit, a, b = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])["all"], json.loads(sys.argv[4])["all"]
err = lambda j: "" if not j["errors"] else f"  errors {j['errors']}"
print(f"{name:<22} {a[unit]:12.1f} {b[unit]:12.1f} {100*a[unit]/max(b[unit],1e-9):7.0f}%   "
      f"{a['p99_ms']:.2f} / {b['p99_ms']:.2f}{err(a)}{err(b)}")
PY
}
many=(--concurrency "$conc" --duration "$secs" --requests 100000000)
line "PUT 4 KiB ops/s" ops_per_sec --mix put --size 4k --objects 20000 --prefix p "${many[@]}"
line "GET 4 KiB ops/s" ops_per_sec --mix get --size 4k --objects 1000 --prefix g "${many[@]}"
line "PUT 64 MiB MiB/s" mib_per_sec --mix put --size 64m --objects 4 --prefix big \
    --concurrency 2 --duration "$secs" --requests 8
line "GET 64 MiB MiB/s" mib_per_sec --mix get --size 64m --objects 4 --prefix big --no-prefill \
    --concurrency 2 --duration "$secs" --requests 8
