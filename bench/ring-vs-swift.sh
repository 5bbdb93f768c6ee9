#!/usr/bin/env bash
# Builds the same ring with `stratus ring` and OpenStack Swift's
# swift-ring-builder (from PyPI, into bench/.peers/swift-venv) in one run and
# prints rebalance wall time, balance and dispersion for both, then the
# partitions each moves when one device is added.
#
#   bench/ring-vs-swift.sh [part_power] [regions] [zones] [devices_per_zone]
#   defaults: 16 3 4 10 (120 devices, 3 replicas)
set -euo pipefail
cd "$(dirname "$0")/.."
PART_POWER=${1:-16} REGIONS=${2:-3} ZONES=${3:-4} DEVS=${4:-10}
SWIFT_VERSION=2.38.3

command -v bc >/dev/null || { echo "ring-vs-swift: needs bc (apt-get install bc)" >&2; exit 2; }
venv=bench/.peers/swift-venv
if [ ! -x "$venv/bin/swift-ring-builder" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "swift==$SWIFT_VERSION"
fi
cargo build -q --release --locked -p stratus-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

devices=()
for r in $(seq 1 "$REGIONS"); do
    for z in $(seq 1 "$ZONES"); do
        for d in $(seq 1 "$DEVS"); do
            devices+=("r${r}z${z}-10.$r.$z.1:6200/d$d" 100)
        done
    done
done

seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >"$work/out" 2>&1 || true; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
field() { grep -o "$1 is now [0-9.]*[0-9]" "$work/out" | awk '{print $4}'; }
moved() { grep -o 'Reassigned [0-9]*' "$work/out" | awk '{print $2}'; }

declare -A result
for tool in stratus swift; do
    if [ $tool = stratus ]; then cmd=(target/release/stratus ring "$work/$tool.builder"); else cmd=("$venv/bin/swift-ring-builder" "$work/$tool.builder"); fi
    "${cmd[@]}" create "$PART_POWER" 3 1 >/dev/null
    "${cmd[@]}" add "${devices[@]}" >/dev/null
    result[$tool.time]=$(seconds "${cmd[@]}" rebalance --seed 1)
    result[$tool.balance]=$(field Balance)
    result[$tool.dispersion]=$(field Dispersion)
    "${cmd[@]}" add "r1z1-10.1.1.2:6200/dnew" 100 >/dev/null
    "${cmd[@]}" pretend_min_part_hours_passed >/dev/null
    result[$tool.addtime]=$(seconds "${cmd[@]}" rebalance --seed 1)
    result[$tool.moved]=$(moved)
    result[$tool.balance2]=$(field Balance)
done

ideal=$(echo "2^$PART_POWER * 3 / ($REGIONS * $ZONES * $DEVS + 1)" | bc -l)
printf 'ring: part power %s, 3 replicas, %s devices (%s regions x %s zones x %s); swift %s\n' \
    "$PART_POWER" $((REGIONS * ZONES * DEVS)) "$REGIONS" "$ZONES" "$DEVS" "$SWIFT_VERSION"
printf '%-30s %14s %14s %10s\n' "" stratus swift-ring-builder "swift/stratus"
printf '%-30s %14.3f %14.3f %10.1fx\n' "initial rebalance (s)" "${result[stratus.time]}" "${result[swift.time]}" \
    "$(echo "${result[swift.time]} / ${result[stratus.time]}" | bc -l)"
printf '%-30s %14s %14s\n' "balance (%)" "${result[stratus.balance]}" "${result[swift.balance]}"
printf '%-30s %14s %14s\n' "dispersion (%)" "${result[stratus.dispersion]}" "${result[swift.dispersion]}"
printf '%-30s %14.3f %14.3f %10.1fx\n' "rebalance after +1 device (s)" "${result[stratus.addtime]}" "${result[swift.addtime]}" \
    "$(echo "${result[swift.addtime]} / ${result[stratus.addtime]}" | bc -l)"
printf '%-30s %14s %14s\n' "partitions moved (+1 device)" "${result[stratus.moved]}" "${result[swift.moved]}"
printf '%-30s %14s %14s\n' "balance after (+1 device)" "${result[stratus.balance2]}" "${result[swift.balance2]}"
printf '%-30s %14.0f\n' "ideal partition-replicas moved" "$ideal"
