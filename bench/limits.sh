#!/usr/bin/env bash
# The machine's own limits, for ratio-to-hardware figures: fio on the
# filesystem holding DIR (default bench/.work-limits), a few seconds each.
#   bench/limits.sh [seconds] [dir]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; dir=${2:-bench/.work-limits}
command -v fio >/dev/null || { echo "limits: needs fio (scripts/setup.sh installs it)" >&2; exit 2; }
mkdir -p "$dir"
trap 'rm -rf "$dir"/limits.*' EXIT
job() { # name, then fio arguments; prints MiB/s and IOPS of the job
    fio --output-format=json --name="limits" --filename="$dir/limits.$1" --runtime="$secs" --time_based \
        --size=1g --ioengine=sync "${@:2}" |
        python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; d=j["write"] if j["write"]["iops"]>0 else j["read"]; print("%10.1f MiB/s %12.0f IOPS" % (d["bw"]/1024, d["iops"]))'
}
printf "%-40s %s\n" "sequential write 1 MiB (fsync at end)" "$(job seqw --rw=write --bs=1m --end_fsync=1)"
printf "%-40s %s\n" "sequential read 1 MiB (cache dropped)" "$(job seqw --rw=read --bs=1m --invalidate=1)"
printf "%-40s %s\n" "4 KiB write + fdatasync each" "$(job sync4k --rw=write --bs=4k --fdatasync=1 --size=256m)"
printf "%-40s %s\n" "4 KiB random read (cache dropped)" "$(job seqw --rw=randread --bs=4k --invalidate=1)"
