#!/usr/bin/env bash
# OpenStack Swift all-in-one on loopback, from PyPI, for side-by-side
# benchmarks: a proxy with tempauth on 127.0.0.1:8080 (user test:tester,
# key testing; tokens in a memcached on 127.0.0.1:11311, from Debian), three
# storage nodes each running object, container and
# account servers (ports 62N0/62N1/62N2... shifted to 63N0 to keep clear of
# Stratus), rings of 3 replicas. Everything lives in bench/.peers/ (ignored
# by git).
#
#   bench/peers/swift-aio.sh start    # installs on first use, then starts
#   bench/peers/swift-aio.sh stop     # ends only the processes it started
set -euo pipefail
cd "$(dirname "$0")/../.."
SWIFT_VERSION=2.38.3
venv=bench/.peers/swift-venv
base=$PWD/bench/.peers/swift-aio
run=$base/run

stop() {
    [ -d "$run" ] || return 0
    for f in "$run"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        # Only our own processes: the pid must still run what we started.
        if grep -qE "run-swift-server.py|memcached" "/proc/$pid/cmdline" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
}

start() {
    if [ ! -x "$venv/bin/swift-proxy-server" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "swift==$SWIFT_VERSION"
    fi
    if ! command -v memcached >/dev/null; then
        if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq memcached >/dev/null; else sudo apt-get install -y -qq memcached >/dev/null; fi
    fi
    stop
    mkdir -p "$base/etc" "$run"
    memcached -l 127.0.0.1 -p 11311 -U 0 -u "$(id -un)" -m 64 >"$run/memcached.log" 2>&1 &
    echo $! > "$run/memcached.pid"
    for n in 1 2 3; do mkdir -p "$base/srv/node$n/d1"; done
    cat > "$base/etc/swift.conf" <<CONF
[swift-hash]
swift_hash_path_suffix = stratus-bench-aio
[storage-policy:0]
name = gold
default = yes
CONF
    if [ ! -f "$base/etc/object.ring.gz" ]; then
        for kind in object:0 container:1 account:2; do
            name=${kind%:*}; off=${kind#*:}
            b="$base/etc/$name.builder"
            "$venv/bin/swift-ring-builder" "$b" create 10 3 1 >/dev/null
            for n in 1 2 3; do
                "$venv/bin/swift-ring-builder" "$b" add "r1z$n-127.0.0.1:63$n$off/d1" 100 >/dev/null
            done
            "$venv/bin/swift-ring-builder" "$b" rebalance >/dev/null || true
        done
    fi
    cat > "$run/run-swift-server.py" <<'PY'
import sys
import swift.common.utils as utils
utils.SWIFT_CONF_FILE = sys.argv.pop(1)
import swift.common.storage_policy as storage_policy
storage_policy.reload_storage_policies()
from swift.common.wsgi import run_wsgi
app, conf = sys.argv[1], sys.argv[2]
sys.exit(run_wsgi(conf, app, default_port=0))
PY
    common="[DEFAULT]
swift_dir = $base/etc
mount_check = false
bind_ip = 127.0.0.1
workers = 1
user = $(id -un)
log_level = WARNING"
    for n in 1 2 3; do
        for kind in object:0 container:1 account:2; do
            name=${kind%:*}; off=${kind#*:}
            conf="$base/etc/$name-$n.conf"
            printf '%s\ndevices = %s\nbind_port = %s\n[pipeline:main]\npipeline = %s-server\n[app:%s-server]\nuse = egg:swift#%s\n' \
                "$common" "$base/srv/node$n" "63$n$off" "$name" "$name" "$name" > "$conf"
            launch "$name-server" "$conf" "$name-$n"
        done
    done
    cat > "$base/etc/proxy.conf" <<CONF
$common
bind_port = 8080
[pipeline:main]
pipeline = catch_errors proxy-logging cache tempauth slo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:11311
[filter:slo]
use = egg:swift#slo
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:proxy-logging]
use = egg:swift#proxy_logging
CONF
    launch proxy-server "$base/etc/proxy.conf" proxy
    # Ready once a container can be created through the whole stack.
    for _ in $(seq 300); do
        token=$(curl -s -D - -o /dev/null -H "X-Auth-User: test:tester" -H "X-Auth-Key: testing" \
            http://127.0.0.1:8080/auth/v1.0 | awk -F': ' 'tolower($1)=="x-auth-token" {print $2}' | tr -d '\r' || true)
        if [ -n "$token" ] && curl -sf -o /dev/null -X PUT -H "X-Auth-Token: $token" http://127.0.0.1:8080/v1/AUTH_test/ready; then
            echo "swift-aio: proxy on 127.0.0.1:8080 (auth /auth/v1.0, test:tester / testing)"
            return 0
        fi
        sleep 0.2
    done
    echo "swift-aio: proxy did not come up; logs in $run" >&2
    return 1
}

launch() {
    "$venv/bin/python" "$run/run-swift-server.py" "$base/etc/swift.conf" "$1" "$2" >"$run/$3.log" 2>&1 &
    echo $! > "$run/$3.pid"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
