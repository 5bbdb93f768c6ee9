#!/usr/bin/env bash
# A 1 GiB static large object through python-swiftclient (`swift upload
# --use-slo`, segments sent in parallel, then `swift download`), into
# `stratus up` and into OpenStack Swift all-in-one (bench/peers/swift-aio.sh,
# with its slo middleware) in one run, with the same client and flags;
# prints MiB/s of each and the ratio, and the raw disk's sequential write
# bandwidth from fio for scale.
#
#   bench/slo-vs-swift.sh [size-MiB] [segment-MiB] [threads]   # default 1024 64 8
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
root=$PWD
mib=${1:-1024}; seg=${2:-64}; threads=${3:-8}
scripts/setup.sh >/dev/null
cargo build -q --release --locked -p stratus-cli
work=$(mktemp -d)
bench/peers/swift-aio.sh start >/dev/null
sport=$((20000 + RANDOM % 12000)); pport=$((sport + 30)); iport=$((sport + 31))
target/release/stratus up --data-dir "$work/up" --proxy-port $pport --storage-port $sport \
    --identity-port $iport 2>"$work/up.log" &
up=$!
cleanup() {
    kill $up 2>/dev/null || true; wait $up 2>/dev/null || true
    bench/peers/swift-aio.sh stop
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$pport/healthcheck >/dev/null && break; sleep 0.1; done
head -c $((mib * 1024 * 1024)) /dev/urandom > "$work/big.bin"
swift() { # auth-url key, then arguments
    local url=$1 key=$2; shift 2
    env -u OS_AUTH_URL -u OS_USERNAME -u OS_PASSWORD "$root/.venv/bin/swift" -A "$url" -U test:tester -K "$key" "$@"
}
seconds() { local t0; t0=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $t0" | bc -l; }
run() { # name url key
    local put get
    put=$(cd "$work" && seconds swift "$2" "$3" upload --use-slo --segment-size "${seg}M" \
        --segment-threads "$threads" slo big.bin)
    get=$(cd "$work" && seconds swift "$2" "$3" download slo big.bin -o /dev/null)
    echo "$1 $put $get"
}
a=$(run stratus "http://127.0.0.1:$pport/auth/v1.0" "$(cat "$work/up/tester.key")")
b=$(run swift "http://127.0.0.1:8080/auth/v1.0" testing)
fio_bw=$(fio --name=seq --directory="$work" --rw=write --bs=1M --size=1G --direct=1 \
    --numjobs=1 --output-format=json 2>/dev/null | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["jobs"][0]["write"]["bw"]/1024)')
python3 - "$mib" "$a" "$b" "$fio_bw" <<'PY'
import sys
mib, a, b, fio = float(sys.argv[1]), sys.argv[2].split(), sys.argv[3].split(), float(sys.argv[4])
rate = lambda s: mib / float(s)
print(f"{'1 GiB SLO via swiftclient':<28} {'stratus':>10} {'swift':>10} {'ratio':>7}")
for i, what in ((1, "PUT MiB/s"), (2, "GET MiB/s")):
    x, y = rate(a[i]), rate(b[i])
    print(f"{what:<28} {x:10.1f} {y:10.1f} {x / y:6.2f}x")
print(f"fio sequential write (direct, 1 MiB blocks): {fio:.0f} MiB/s; 3 replicas need 3x the bytes")
PY
