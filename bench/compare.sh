#!/usr/bin/env bash
# One workload, Stratus against the peer a user would pick instead, in one
# run: starts `stratus up` in a temporary directory and the peer from
# bench/peers/, runs the same stratus-bench workload against each, prints
# both results and the ratio.
#
#   bench/compare.sh <workload> [seconds] [concurrency]     # default 10 16
#
# Workloads (peer):
#   swift-put-4k, swift-get-4k        Swift API, 4 KiB objects (Swift all-in-one)
#   swift-put-1g, swift-get-1g        Swift API, one 1 GiB object (Swift all-in-one)
#   identity-validate                 GET /v3/auth/tokens (Keystone, uwsgi)
#   identity-issue                    POST /v3/auth/tokens, password (Keystone, uwsgi)
#   s3-put-4k, s3-get-4k              S3 API, 4 KiB objects (moto, an in-memory S3 server)
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:-}; secs=${2:-10}; conc=${3:-16}
case "$workload" in
    swift-put-4k) peer=swift; args=(--mix put --size 4k --objects 20000 --prefix p) ;;
    swift-get-4k) peer=swift; args=(--mix get --size 4k --objects 1000 --prefix g) ;;
    swift-put-1g) peer=swift; conc=1; args=(--mix put --size 1024m --objects 1 --requests 1 --prefix big) ;;
    swift-get-1g) peer=swift; conc=1; args=(--mix get --size 1024m --objects 1 --requests 1 --prefix big) ;;
    identity-validate) peer=keystone; args=(--protocol keystone --identity-op validate) ;;
    identity-issue) peer=keystone; args=(--protocol keystone --identity-op issue) ;;
    s3-put-4k) peer=s3; args=(--protocol s3 --mix put --size 4k --objects 20000 --prefix p) ;;
    s3-get-4k) peer=s3; args=(--protocol s3 --mix get --size 4k --objects 1000 --prefix g) ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
case $peer in swift) peer_script=swift-aio ;; keystone) peer_script=keystone ;; s3) peer_script=s3-moto ;; esac
cargo build -q --release --locked -p stratus-cli -p stratus-bench
work=$(mktemp -d)
bench/peers/$peer_script.sh start >/dev/null
sport=$((20000 + RANDOM % 12000)); pport=$((sport + 30)); iport=$((sport + 31))
target/release/stratus up --data-dir "$work" --proxy-port $pport --storage-port $sport \
    --identity-port $iport 2>"$work/up.log" &
up=$!
cleanup() {
    kill $up 2>/dev/null || true; wait $up 2>/dev/null || true
    bench/peers/$peer_script.sh stop
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$iport/v3 >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:$iport/v3 >/dev/null || { cat "$work/up.log" >&2; exit 1; }

common=(--concurrency "$conc" --duration "$secs" --json)
[[ " ${args[*]} " == *" --requests "* ]] || common+=(--requests 100000000)
if [ $peer = swift ]; then
    st=$(target/release/stratus-bench --target 127.0.0.1:$pport --protocol swift --auth /auth/v1.0 \
        --user test:tester --key "$(cat "$work/tester.key")" "${common[@]}" "${args[@]}")
    pe=$(target/release/stratus-bench --target 127.0.0.1:8080 --protocol swift --auth /auth/v1.0 \
        --user test:tester --key testing "${common[@]}" "${args[@]}")
elif [ $peer = s3 ]; then
    aws_key() { sed -n "s/^export $1=//p" "$work/stratus.env"; }
    st=$(target/release/stratus-bench --target 127.0.0.1:$pport --user "$(aws_key AWS_ACCESS_KEY_ID)" \
        --key "$(aws_key AWS_SECRET_ACCESS_KEY)" "${common[@]}" "${args[@]}")
    pe=$(target/release/stratus-bench --target 127.0.0.1:${MOTO_PORT:-5200} --user bench \
        --key bench-secret "${common[@]}" "${args[@]}")
else
    st=$(target/release/stratus-bench --target 127.0.0.1:$iport --user admin \
        --key "$(cat "$work/admin.password")" "${common[@]}" "${args[@]}")
    pe=$(target/release/stratus-bench --target 127.0.0.1:${KEYSTONE_PORT:-5100} --user admin \
        --key keystone-bench "${common[@]}" "${args[@]}")
fi
python3 - "$workload" "$conc" "$peer" "$st" "$pe" <<'PY'
import json, sys
name, conc, peer = sys.argv[1], sys.argv[2], sys.argv[3]
st, pe = json.loads(sys.argv[4])["all"], json.loads(sys.argv[5])["all"]
unit = "mib_per_sec" if name.endswith("1g") else "ops_per_sec"
err = lambda j: "" if not j["errors"] else f"  errors {j['errors']}"
print(f"{'workload (conc ' + conc + ')':<26} {'stratus':>12} {peer:>12} {'ratio':>8}   p99 ms stratus / {peer}")
a, b = st[unit], pe[unit]
print(f"{name + ' ' + unit.replace('_per_sec', '/s'):<26} {a:12.1f} {b:12.1f} {a/max(b,1e-9):7.1f}x   "
      f"{st['p99_ms']:.2f} / {pe['p99_ms']:.2f}{err(st)}{err(pe)}")
PY
