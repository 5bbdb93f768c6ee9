#!/usr/bin/env bash
# Builds Stratus and runs a whole object store on this machine with
# `stratus up`: three storage nodes and the Swift API proxy on loopback,
# data in .stratus/ (kept across runs). Ctrl-C stops it.
#   Then:  source .stratus/stratus.env && .venv/bin/swift stat
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p stratus-cli
exec target/release/stratus up --data-dir .stratus "$@"
