#!/usr/bin/env bash
# make demo: generate a forest, sync it into the emulated tenant, change it, sync the delta.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/forestsync demo --users "${1:-10000}" --out out
