#!/usr/bin/env bash
# One storage node, io_uring vs synchronous engine, against fio on the same
# filesystem in the same run. Usage: bench/storage.sh [seconds-per-line]
# Needs: fio (scripts/setup.sh installs it). Writes only under bench/.work.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
work=bench/.work
rm -rf "$work"; mkdir -p "$work"
cargo build --release -q -p stratus-cli -p stratus-bench
bin=target/release

echo "== fio on $(df --output=source "$work" | tail -1) ($work), ${secs}s per job"
fio_json() { fio --output-format=json "$@" | python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; w=j["write"]; r=j["read"]; print(json.dumps({"write_iops":w["iops"],"write_mib":w["bw"]/1024,"read_iops":r["iops"],"read_mib":r["bw"]/1024}))'; }
f4k=$(fio_json --name=sync4k --directory="$work" --rw=write --bs=4k --size=256m --fdatasync=1 --runtime="$secs" --time_based --ioengine=sync)
f1mw=$(fio_json --name=seq1m --directory="$work" --rw=write --bs=1m --size=1g --runtime="$secs" --time_based --end_fsync=1 --ioengine=sync)
f1ms=$(fio_json --name=seq1ms --directory="$work" --rw=write --bs=1m --size=1g --fdatasync=1 --runtime="$secs" --time_based --ioengine=sync)
f1mr=$(fio_json --name=seq1m --directory="$work" --rw=read --bs=1m --size=1g --runtime="$secs" --time_based --ioengine=sync --invalidate=1)
rm -f "$work"/*.0.0
echo "fio 4KiB write+fdatasync: $f4k"
echo "fio 1MiB seq write:       $f1mw"
echo "fio 1MiB write+fdatasync: $f1ms"
echo "fio 1MiB seq read:        $f1mr"

port=$((20000 + RANDOM % 12000))
for engine in io_uring sync; do
    rm -rf "$work/node"; mkdir -p "$work/node/d1"
    $bin/stratus storage --devices "$work/node" --engine "$engine" \
        --bind 127.0.0.1:$port --container-bind 127.0.0.1:$((port+1)) --account-bind 127.0.0.1:$((port+2)) \
        2>"$work/node-$engine.log" &
    pid=$!
    trap 'kill $pid 2>/dev/null || true' EXIT
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthcheck >/dev/null && break; sleep 0.1; done
    echo "== engine $engine"
    for size in 4096 1048576; do
        # Prefill the objects the GET runs read (verified once).
        n=$(( size > 4096 ? 256 : 2000 ))
        $bin/stratus-bench --target 127.0.0.1:$port --mix put --size $size --concurrency 16 \
            --requests $n --duration 120 --objects $n --prefix "g$size" --verify --json >/dev/null
        $bin/stratus-bench --target 127.0.0.1:$port --mix get --no-prefill --size $size --concurrency 16 \
            --requests $n --duration 120 --objects $n --prefix "g$size" --verify --json
        for conc in 1 16 64; do
            $bin/stratus-bench --target 127.0.0.1:$port --mix put --size $size --concurrency $conc \
                --requests 1000000 --duration "$secs" --objects 20000 --prefix "p$size" --json
            $bin/stratus-bench --target 127.0.0.1:$port --mix get --no-prefill --size $size --concurrency $conc \
                --requests 1000000 --duration "$secs" --objects $n --prefix "g$size" --json
        done
    done
    kill $pid; wait $pid 2>/dev/null || true
    port=$((port + 3))
done
rm -rf "$work"
