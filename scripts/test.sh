#!/usr/bin/env bash
# Install what is missing and run the whole suite: lint, types, then pytest against SQLite and PostgreSQL.
# Extra arguments go to pytest (e.g. ./scripts/test.sh -k audit).
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$ROOT"

prepare_postgres() {
  command -v pg_lsclusters >/dev/null 2>&1 || { say "PostgreSQL is not installed"; return 1; }
  local version
  version="$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}')"
  [ -n "$version" ] || { say "no PostgreSQL cluster"; return 1; }
  if ! pg_lsclusters -h | awk 'NR==1 {print $4}' | grep -q online; then
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || return 1
  fi
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS govsign_test" >/dev/null 2>&1 || return 1
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE govsign_test" >/dev/null || return 1
  export GOVSIGN_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:5432/govsign_test"
}

if ! prepare_postgres; then
  say "PostgreSQL unavailable: its tests will be skipped (CI refuses to)"
fi

say "ruff"
ruff check ca signing govsign tests scripts
say "mypy --strict"
mypy
say "lint-imports (the rooms' arrows)"
lint-imports
# Two workers (pytest-xdist), each with its own tokens, databases and servers, a test module kept on one
# worker: much of the suite waits on servers and subprocesses, so two cores carry two streams of it.
say "pytest (${GOVSIGN_TEST_WORKERS:-2} workers)"
exec python -m pytest -q -p no:cacheprovider -n "${GOVSIGN_TEST_WORKERS:-2}" --dist loadfile "$@"
