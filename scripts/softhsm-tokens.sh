#!/usr/bin/env bash
# Create the root and service SoftHSM2 tokens under $GOVSIGN_HOME (default ./var) from
# hsm_config/softhsm2.conf, with fresh PINs in mode-0600 files; never in the system-wide token folder.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
export GOVSIGN_HOME="${GOVSIGN_HOME:-$ROOT/var}"
exec govsign hsm create-tokens
