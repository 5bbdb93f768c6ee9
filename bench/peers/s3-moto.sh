#!/usr/bin/env bash
# An S3 peer from PyPI: moto's server mode on 127.0.0.1:5200 (any access
# key and secret are accepted; SigV4 is parsed, not checked). moto keeps
# objects in process memory and is a protocol peer for client behaviour and
# request-path overhead, not a durable store; Ceph's radosgw (Debian) is the
# durable peer to add with the S3 API. Everything lives in bench/.peers/.
#
#   bench/peers/s3-moto.sh start    # installs on first use, then starts
#   bench/peers/s3-moto.sh stop     # ends only the process it started
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=$PWD/bench/.peers/moto-venv
base=$PWD/bench/.peers/moto
port=${MOTO_PORT:-5200}
pidfile=$base/moto.pid

stop() {
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if grep -q moto_server "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

start() {
    if [ ! -x "$venv/bin/moto_server" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]'
    fi
    stop
    mkdir -p "$base"
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$base/moto.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
            echo "moto S3 on http://127.0.0.1:$port (any key)"
            return 0
        fi
        sleep 0.2
    done
    echo "moto did not start; see $base/moto.log" >&2
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
