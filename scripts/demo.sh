#!/usr/bin/env bash
# make demo: generate a forest, import it, show the connector space.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-10000}
FS=.venv/bin/forestsync
mkdir -p out
$FS generate --users "$USERS" --groups $((USERS / 10)) --domains 2 --seed 7 --out out/forest.ldif
$FS sync --config scripts/demo.yaml --policy initial
$FS cs stats --config scripts/demo.yaml
