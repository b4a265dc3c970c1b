#!/usr/bin/env bash
# Sourced by run.sh and test.sh: installs what is missing (Debian packages, a virtualenv with govsign) and
# maps the public host name to 127.0.0.1. Safe to run again: each step checks before it acts.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GOVSIGN_VENV:-$ROOT/.venv}"
APT_PACKAGES=(softhsm2 opensc poppler-utils libnss3-tools qpdf fonts-liberation2 openssl wrk chromium)

say() { printf '[govsign] %s\n' "$*" >&2; }

install_debian_packages() {
  local missing=()
  for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
    return 1
  fi
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_virtualenv() {
  local stamp="$VENV/.govsign-installed"
  local want
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/govsign" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "installing govsign into $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -e "$ROOT[test]"
  echo "$want" > "$stamp"
}

# The browser tests' accessibility checker (tests/test_ui_browser.py runs it inside the page): npm's
# axe-core, pinned, into node_modules/ at the top of the checkout (ignored by git). Skipped without npm.
AXE_VERSION=4.14.1
install_npm_packages() {
  local installed="$ROOT/node_modules/axe-core/package.json"
  if [ -f "$installed" ] && grep -q "\"version\": \"$AXE_VERSION\"" "$installed"; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    say "npm is missing: the accessibility checks of the browser tests will be skipped (install nodejs)"
    return 0
  fi
  say "installing axe-core $AXE_VERSION for the browser tests"
  npm install --no-save --no-audit --no-fund --silent --prefix "$ROOT" "axe-core@$AXE_VERSION" >/dev/null
}

map_public_host() {
  local url="${GOVSIGN_PUBLIC_URL:-http://ca.govsign.vn:8000}"
  local host="${url#*://}"
  host="${host%%/*}"
  host="${host%%:*}"
  if getent hosts "$host" | grep -q '^127\.0\.0\.1'; then
    return 0
  fi
  if [ "$(id -u)" -eq 0 ] && [ -w /etc/hosts ]; then
    echo "127.0.0.1 $host" >> /etc/hosts
    say "added '127.0.0.1 $host' to /etc/hosts so that the URLs written into certificates resolve here"
  else
    say "add this line to /etc/hosts so that certificate URLs resolve here: 127.0.0.1 $host"
  fi
}

install_debian_packages
install_virtualenv
install_npm_packages
map_public_host
export PATH="$VENV/bin:$PATH"
