#!/usr/bin/env bash
# OpenStack Keystone from PyPI for side-by-side benchmarks: SQLite, Fernet
# tokens, caching on, served by uwsgi's HTTP router with keep-alive (one
# worker process per core) on 127.0.0.1:5100; bootstrapped with user admin / password keystone-bench,
# project admin. Everything lives in bench/.peers/ (ignored by git).
#
#   bench/peers/keystone.sh start    # installs on first use, then starts
#   bench/peers/keystone.sh stop     # ends only the processes it started
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=$PWD/bench/.peers/keystone-venv
base=$PWD/bench/.peers/keystone
port=${KEYSTONE_PORT:-5100}
pidfile=$base/uwsgi.pid

stop() {
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    # Only our own uwsgi master: it takes its workers with it.
    if grep -q uwsgi "/proc/$pid/cmdline" 2>/dev/null; then
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
}

start() {
    if [ ! -x "$venv/bin/keystone-manage" ] || [ ! -x "$venv/bin/uwsgi" ]; then
        python3 -m venv "$venv"
        # uwsgi compiles against the Python headers (python3-dev).
        "$venv/bin/pip" install -q --disable-pip-version-check keystone uwsgi
    fi
    stop
    mkdir -p "$base"
    cat > "$base/keystone.conf" <<CONF
[DEFAULT]
use_stderr = false
log_file = $base/keystone.log
[database]
connection = sqlite:///$base/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = $base/fernet-keys
[fernet_receipts]
key_repository = $base/fernet-keys
[credential]
key_repository = $base/credential-keys
# Caching on, as production (devstack uses memcached; one process's
# memory serves the same purpose here without another daemon).
[cache]
enabled = true
backend = dogpile.cache.memory
CONF
    km() { "$venv/bin/keystone-manage" --config-file "$base/keystone.conf" "$@"; }
    if [ ! -f "$base/keystone.db" ]; then
        km db_sync
        for what in fernet_setup credential_setup; do
            km "$what" --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
        done
        km bootstrap --bootstrap-password keystone-bench \
            --bootstrap-admin-url "http://127.0.0.1:$port/v3" \
            --bootstrap-public-url "http://127.0.0.1:$port/v3" \
            --bootstrap-internal-url "http://127.0.0.1:$port/v3" \
            --bootstrap-region-id RegionOne
    fi
    # Newer Keystone ships the WSGI app as a module, older as a script.
    if [ -x "$venv/bin/keystone-wsgi-public" ]; then
        app=(--wsgi-file "$venv/bin/keystone-wsgi-public")
    else
        app=(--module "keystone.wsgi.api:application")
    fi
    OS_KEYSTONE_CONFIG_DIR="$base" OS_KEYSTONE_CONFIG_FILES=keystone.conf \
        "$venv/bin/uwsgi" --http "127.0.0.1:$port" --http-keepalive "${app[@]}" \
        --master --processes "$(nproc)" --threads 1 --enable-threads --lazy-apps \
        --virtualenv "$venv" --pidfile "$pidfile" --daemonize "$base/uwsgi.log" \
        --buffer-size 65535 --die-on-term
    for _ in $(seq 100); do
        if curl -sf "http://127.0.0.1:$port/v3" >/dev/null; then
            echo "keystone on http://127.0.0.1:$port/v3 (admin / keystone-bench)"
            return 0
        fi
        sleep 0.2
    done
    echo "keystone did not start; see $base/uwsgi.log" >&2
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
