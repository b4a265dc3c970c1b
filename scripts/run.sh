#!/usr/bin/env bash
# Install what is missing, initialise tokens, database and demo CA on first run, then serve on
# 127.0.0.1:8000 (GOVSIGN_PORT to change the port).
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$ROOT"
export GOVSIGN_HOME="${GOVSIGN_HOME:-$ROOT/var}"
# The checkout's hsm_config/ is the operator's editable copy of the defaults govsign ships (README).
export GOVSIGN_CEREMONY_FILE="${GOVSIGN_CEREMONY_FILE:-$ROOT/hsm_config/ceremony.toml}"
export GOVSIGN_SOFTHSM_TEMPLATE="${GOVSIGN_SOFTHSM_TEMPLATE:-$ROOT/hsm_config/softhsm2.conf}"

if ! govsign ca export-chain >/dev/null 2>&1; then
  say "no CA in $GOVSIGN_HOME yet: running govsign init"
  govsign init
  "$ROOT/scripts/demo.sh"
else
  govsign db upgrade   # a deployment made by an older checkout gets the newer tables
fi
say "serving on http://127.0.0.1:${GOVSIGN_PORT:-8000}"
exec govsign serve --host 127.0.0.1 --port "${GOVSIGN_PORT:-8000}" --workers "${GOVSIGN_WORKERS:-2}"
