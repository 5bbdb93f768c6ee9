#!/usr/bin/env bash
# Replication benchmarks, one run, on three `stratus storage` processes
# (one device each, rings of part power 10 and 3 replicas) behind a
# `stratus proxy`:
#  1. a replication pass with nothing to do over OBJECTS 1 KiB objects
#     (default 100,000): wall time of the pass on all three nodes at once
#     and the bytes they sent and received;
#  2. a lost node: GIB GiB (default 4) of 64 MiB objects plus the small
#     ones, node 3's device wiped, then one pass of the other two nodes
#     rebuilds it: time and MiB/s, against fio's sequential write bandwidth
#     on the same filesystem in the same run.
#
#   bench/replication.sh [objects] [GiB]
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
objects=${1:-100000}; gib=${2:-4}
scripts/setup.sh >/dev/null
cargo build -q --release --locked -p stratus-cli -p stratus-bench
S=$PWD/target/release/stratus; B=$PWD/target/release/stratus-bench
work=$PWD/bench/.work-replication
rm -rf "$work"; mkdir -p "$work/rings"
base=$((20000 + RANDOM % 12000)); pport=$((base + 30))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start_node() { # n
    "$S" storage --config "$work/node$1.toml" 2>>"$work/node$1.log" &
    pids[$1]=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$((base + $1))/healthcheck" >/dev/null && return; sleep 0.1; done
    echo "node $1 did not start" >&2; exit 1
}
for n in 0 1 2; do
    mkdir -p "$work/node$n/d1"
    cat > "$work/node$n.toml" <<TOML
bind = "127.0.0.1:$((base + n))"
container_bind = "127.0.0.1:$((base + 10 + n))"
account_bind = "127.0.0.1:$((base + 20 + n))"
devices = "$work/node$n"
rings = "$work/rings"
replication_interval_secs = 86400
auditor_interval_secs = 86400
expirer_interval_secs = 86400
replication_bytes_per_sec = 0
TOML
done
for kind in object container account; do
    b="$work/rings/$kind.builder"
    off=$(case $kind in object) echo 0;; container) echo 10;; account) echo 20;; esac)
    "$S" ring "$b" create 10 3 0 >/dev/null
    for n in 0 1 2; do "$S" ring "$b" add "r1z$((n + 1))-127.0.0.1:$((base + off + n))/d1" 100 >/dev/null; done
    "$S" ring "$b" rebalance --seed 1 >/dev/null || true
done
for n in 0 1 2; do start_node $n; done
cat > "$work/proxy.toml" <<TOML
bind = "127.0.0.1:$pport"
rings = "$work/rings"
[[users]]
account = "test"
user = "tester"
key = "testing"
roles = [".admin"]
TOML
"$S" proxy --config "$work/proxy.toml" 2>>"$work/proxy.log" &
pids[3]=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$pport/healthcheck" >/dev/null && break; sleep 0.1; done

fill() { # container size count concurrency
    "$B" --target "127.0.0.1:$pport" --protocol swift --auth /auth/v1.0 --mix put=1 --size "$2" \
        --objects "$3" --requests "$3" --concurrency "$4" --duration 100000 --warmup 0 \
        --container "$1" --prefix o --json >"$work/fill-$1.json"
}
echo "filling: $objects x 1 KiB and $((gib * 16)) x 64 MiB objects (3 replicas) ..." >&2
fill small 1k "$objects" 32
fill large 64m $((gib * 16)) 4

pass() { # worker nodes... ; prints wall seconds, leaves reports in $work/pass-N.json
    local w=$1 t0 calls=(); shift
    t0=$(date +%s.%N)
    for n in "$@"; do
        curl -sf -X POST "http://127.0.0.1:$((base + n))/recon/run/$w" >"$work/pass-$n.json" &
        calls+=($!)
    done
    wait "${calls[@]}"
    echo "$(date +%s.%N) - $t0" | bc -l
}
sum() { # field nodes...
    local f=$1; shift
    for n in "$@"; do python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['report'].get(sys.argv[2],0))" "$work/pass-$n.json" "$f"; done | paste -sd+ | bc
}
# Settle: the first passes send the listing rows of the fill.
for _ in 1 2; do pass object-replicator 0 1 2 >/dev/null; pass db-replicator 0 1 2 >/dev/null; done

t=$(pass object-replicator 0 1 2)
bytes=$(( $(sum protocol_bytes 0 1 2) + $(sum bytes_pushed 0 1 2) ))
parts=$(sum partitions 0 1 2); pushed=$(sum objects_pushed 0 1 2)
printf "no-op object pass, %d objects on 3 nodes (%d partition replicas): %.2f s, %d bytes sent+received, %d objects pushed\n" \
    $((objects + gib * 16)) "$parts" "$t" "$bytes" "$pushed"
t=$(pass db-replicator 0 1 2)
printf "no-op listing pass (containers and accounts): %.2f s, %d bytes, %d rows sent\n" "$t" "$(sum protocol_bytes 0 1 2)" "$(sum rows_sent 0 1 2)"

# Lose node 2's device and rebuild it.
kill "${pids[2]}"; wait "${pids[2]}" 2>/dev/null || true
rm -rf "$work/node2/d1"; mkdir -p "$work/node2/d1"
start_node 2
t=$(pass object-replicator 0 1)
sync
have=$(du -sb "$work/node2/d1/objects" | cut -f1)
pushed=$(sum bytes_pushed 0 1)
printf "rebuilt node: %.2f s for %.2f GiB on its disk (%.1f MiB/s); %.2f GiB pushed by the two others\n" \
    "$t" "$(echo "$have / 1073741824" | bc -l)" "$(echo "$have / 1048576 / $t" | bc -l)" "$(echo "$pushed / 1073741824" | bc -l)"
fio --output-format=json --name=seq --filename="$work/fio.seq" --size=2g --rw=write --bs=1m \
    --end_fsync=1 --ioengine=sync |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print("fio sequential write 1 MiB, fsync at end: %.1f MiB/s" % (j["write"]["bw"]/1024))'
rm -f "$work/fio.seq"
