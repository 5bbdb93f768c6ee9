#!/usr/bin/env bash
# The Swift API end to end: `stratus up` vs OpenStack Swift all-in-one
# (bench/peers/swift-aio.sh), both 3 replicas on this machine, driven by
# the same stratus-bench workloads in one run; plus one large object PUT
# and GET, and the Stratus process's RSS before and after it.
#   bench/proxy-vs-swift.sh [seconds-per-line] [concurrency] [large-MiB]   # default 5 16 1024
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; conc=${2:-16}; large=${3:-1024}
cargo build -q --release --locked -p stratus-cli -p stratus-bench
work=$(mktemp -d)
bench/peers/swift-aio.sh start >/dev/null
sport=$((20000 + RANDOM % 12000)); pport=$((sport + 30))
target/release/stratus up --data-dir "$work" --proxy-port $pport --storage-port $sport 2>"$work/up.log" &
up=$!
trap 'kill $up 2>/dev/null || true; wait $up 2>/dev/null || true; bench/peers/swift-aio.sh stop; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$pport/healthcheck >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:$pport/healthcheck >/dev/null || { tail -20 "$work/up.log"; exit 1; }
key=$(cat "$work/tester.key")

run() { # target-port key, then stratus-bench arguments
    target/release/stratus-bench --protocol swift --target "127.0.0.1:$1" --auth /auth/v1.0 --user test:tester --key "$2" --json "${@:3}"
}
rss() { awk '/VmRSS/ {print $2/1024}' /proc/$up/status; }
printf "%-28s %12s %12s %8s   %s\n" "workload (conc $conc)" "stratus" "swift" "ratio" "p99 ms stratus / swift"
line() { # name, unit key, then arguments
    st=$(run $pport "$key" "${@:3}"); sw=$(run 8080 testing "${@:3}")
    python3 - "$1" "$2" "$st" "$sw" <<'PY'
import json, sys
name, unit, st, sw = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])["all"], json.loads(sys.argv[4])["all"]
err = lambda j: "" if not j["errors"] else f"  errors {j['errors']}"
a, b = st[unit], sw[unit]
print(f"{name:<28} {a:12.1f} {b:12.1f} {a/max(b,1e-9):7.1f}x   {st['p99_ms']:.2f} / {sw['p99_ms']:.2f}{err(st)}{err(sw)}")
PY
}
line "PUT 4 KiB ops/s" ops_per_sec --mix put --size 4k --concurrency "$conc" --duration "$secs" --requests 10000000 --objects 20000 --prefix p
line "GET 4 KiB ops/s" ops_per_sec --mix get --size 4k --concurrency "$conc" --duration "$secs" --requests 10000000 --objects 1000 --prefix g
before=$(rss)
line "PUT ${large} MiB MiB/s" mib_per_sec --mix put --size "${large}m" --concurrency 1 --requests 1 --duration 600 --objects 1 --prefix big
line "GET ${large} MiB MiB/s" mib_per_sec --mix get --size "${large}m" --concurrency 1 --requests 1 --duration 600 --objects 1 --prefix big --no-prefill
echo "stratus up RSS: ${before} MiB before the large object, $(rss) MiB after (3 storage nodes + proxy in one process)"
