#!/usr/bin/env bash
# Stores N small objects (default 1,000,000 of 100 bytes) in one storage
# node and prints its resident memory. Usage: bench/storage-rss.sh [N] [engine]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}; engine=${2:-io_uring}
work=bench/.work-rss
rm -rf "$work"; mkdir -p "$work/node/d1"
cargo build --release -q -p stratus-cli -p stratus-bench
port=$((20000 + RANDOM % 12000))
target/release/stratus storage --devices "$work/node" --engine "$engine" \
    --bind 127.0.0.1:$port --container-bind 127.0.0.1:$((port+1)) --account-bind 127.0.0.1:$((port+2)) 2>"$work/node.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthcheck >/dev/null && break; sleep 0.1; done
target/release/stratus-bench --target 127.0.0.1:$port --mix put --size 100 --concurrency 64 \
    --requests "$n" --duration 1200 --objects "$n" --prefix rss --verify --json
target/release/stratus-bench --target 127.0.0.1:$port --mix get --no-prefill --size 100 --concurrency 64 \
    --requests 100000 --duration 60 --objects "$n" --prefix rss --verify --json
echo "{\"objects\": $n, \"engine\": \"$engine\", \"rss_mib\": $(awk '/VmRSS/ {print $2/1024}' /proc/$pid/status), \"disk_mib\": $(du -sm "$work/node" | cut -f1)}"
