#!/usr/bin/env bash
# Builds Stratus and lays out a one-machine cluster under .stratus/: account,
# container and object rings over three storage nodes on loopback
# (127.0.0.1:6200-6202, two devices each), then prints the object ring.
# Re-running keeps existing rings. (`stratus up` will start the services here.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p stratus-cli
stratus=target/release/stratus
rings=.stratus/rings
mkdir -p "$rings"
for kind in account container object; do
    builder="$rings/$kind.builder"
    [ -f "$rings/$kind.ring" ] && continue
    "$stratus" ring "$builder" create 10 3 1
    for node in 0 1 2; do
        for dev in 1 2; do
            "$stratus" ring "$builder" add "r1z$((node + 1))-127.0.0.1:620$node/d$dev" 100 >/dev/null
        done
    done
    "$stratus" ring "$builder" rebalance
done
"$stratus" ring "$rings/object.builder"
echo
echo "Rings are in $rings/. Try: $stratus ring $rings/object.builder dispersion --verbose"
