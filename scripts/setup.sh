#!/usr/bin/env bash
# Installs everything Stratus needs to build, run and test: Debian packages,
# Rust components, and the real clients the tests drive (in .venv/).
# Idempotent: re-running only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(pkg-config clang libclang-dev libssl-dev librocksdb-dev protobuf-compiler fio bc curl)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        rustup component add "$component"
    fi
done

# Real clients used by the end-to-end tests, pinned.
if [ ! -x .venv/bin/python ] || ! cmp -s scripts/requirements-clients.txt .venv/.installed; then
    echo "setup: installing client venv (.venv)"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-clients.txt
    cp scripts/requirements-clients.txt .venv/.installed
fi
echo "setup: ok"
