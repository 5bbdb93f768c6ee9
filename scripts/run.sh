#!/usr/bin/env bash
# Builds Stratus and runs a one-machine cluster under .stratus/: account,
# container and object rings over three storage nodes on loopback (node N
# serves objects on 62N0, containers on 62N1, accounts on 62N2, with two
# devices each), then starts the three storage nodes in the foreground.
# Ctrl-C stops them. Re-running keeps the rings and the data.
# (The proxy and `stratus up` come next; today you talk to the nodes'
# internal API, e.g. curl -X PUT -H "X-Timestamp: $(date +%s.%N)" --data hi
# http://127.0.0.1:6200/d1/0/AUTH_test/c/o )
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p stratus-cli
stratus=target/release/stratus
rings=.stratus/rings
mkdir -p "$rings"
port_offset() { case $1 in object) echo 0 ;; container) echo 1 ;; account) echo 2 ;; esac; }
for kind in account container object; do
    builder="$rings/$kind.builder"
    [ -f "$rings/$kind.ring" ] && continue
    "$stratus" ring "$builder" create 10 3 1
    for node in 0 1 2; do
        for dev in 1 2; do
            "$stratus" ring "$builder" add "r1z$((node + 1))-127.0.0.1:62$node$(port_offset $kind)/d$dev" 100 >/dev/null
        done
    done
    "$stratus" ring "$builder" rebalance
done
"$stratus" ring "$rings/object.builder"
echo
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for node in 0 1 2; do
    mkdir -p ".stratus/node$node/d1" ".stratus/node$node/d2"
    "$stratus" storage --devices ".stratus/node$node" \
        --bind "127.0.0.1:62${node}0" --container-bind "127.0.0.1:62${node}1" --account-bind "127.0.0.1:62${node}2" &
    pids+=($!)
done
echo "Storage nodes running (data in .stratus/node*/). Ctrl-C to stop."
wait
