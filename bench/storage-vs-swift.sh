#!/usr/bin/env bash
# Stratus's storage node vs OpenStack Swift's object server (from PyPI, in
# bench/.peers/swift-venv), same stratus-bench workload against each in one
# run: PUT and GET of 4 KiB and 1 MiB objects. Both speak the same backend
# API (PUT /<device>/<partition>/<account>/<container>/<object>).
#
#   bench/storage-vs-swift.sh [seconds-per-line] [concurrency]   # default 5 16
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; conc=${2:-16}
SWIFT_VERSION=2.38.3
venv=bench/.peers/swift-venv
if [ ! -x "$venv/bin/swift-object-server" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "swift==$SWIFT_VERSION"
fi
cargo build -q --release --locked -p stratus-cli -p stratus-bench
work=bench/.work-vs-swift
rm -rf "$work"; mkdir -p "$work/swift/d1" "$work/stratus/d1"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 12000))

cat > "$work/swift.conf" <<CONF
[swift-hash]
swift_hash_path_suffix = stratus-bench
CONF
cat > "$work/object-server.conf" <<CONF
[DEFAULT]
devices = $PWD/$work/swift
mount_check = false
bind_ip = 127.0.0.1
bind_port = $port
workers = 2
user = $(id -un)
log_level = WARNING
[pipeline:main]
pipeline = object-server
[app:object-server]
use = egg:swift#object
CONF
# swift-object-server reads /etc/swift/swift.conf; point it at ours instead.
cat > "$work/run-object-server.py" <<'PY'
import sys
import swift.common.utils as utils
utils.SWIFT_CONF_FILE = sys.argv.pop(1)
import swift.common.storage_policy as storage_policy
storage_policy.reload_storage_policies()
from swift.common.wsgi import run_wsgi
sys.exit(run_wsgi(sys.argv[1], 'object-server', default_port=6200))
PY
"$venv/bin/python" "$work/run-object-server.py" "$PWD/$work/swift.conf" "$PWD/$work/object-server.conf" >"$work/swift.log" 2>&1 &
pids+=($!)
target/release/stratus storage --devices "$work/stratus" --bind 127.0.0.1:$((port+1)) \
    --container-bind 127.0.0.1:$((port+2)) --account-bind 127.0.0.1:$((port+3)) 2>"$work/stratus.log" &
pids+=($!)
for p in $port $((port+1)); do
    for _ in $(seq 150); do
        s=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$p/d1/0/a/c/probe || true)
        [ "$s" = 404 ] && break; sleep 0.1
    done
done

bench() { target/release/stratus-bench --target "127.0.0.1:$1" --json "${@:2}"; }
printf "%-22s %12s %12s %8s   %s\n" "workload (conc $conc)" "stratus op/s" "swift op/s" "ratio" "p99 ms stratus / swift"
for size in 4096 1048576; do
    n=$(( size > 4096 ? 256 : 2000 ))
    for p in $port $((port+1)); do
        bench $p --mix put --size $size --concurrency 16 --requests $n --duration 300 --objects $n --prefix g --verify >/dev/null
    done
    for op in put get; do
        if [ $op = put ]; then args=(--objects 20000 --prefix p); else args=(--objects $n --prefix g --no-prefill); fi
        sw=$(bench $port --mix $op --size $size --concurrency "$conc" --requests 10000000 --duration "$secs" "${args[@]}")
        st=$(bench $((port+1)) --mix $op --size $size --concurrency "$conc" --requests 10000000 --duration "$secs" "${args[@]}")
        python3 - "$op $size" "$st" "$sw" <<'PY'
import json, sys
name, st, sw = sys.argv[1], json.loads(sys.argv[2])["all"], json.loads(sys.argv[3])["all"]
err = lambda j: "" if not j["errors"] else f"  errors {j['errors']}"
print(f"{name:<22} {st['ops_per_sec']:12.0f} {sw['ops_per_sec']:12.0f} {st['ops_per_sec']/max(sw['ops_per_sec'],1e-9):7.1f}x   {st['p99_ms']:.2f} / {sw['p99_ms']:.2f}{err(st)}{err(sw)}")
PY
    done
done
