#!/usr/bin/env bash
# Demo data of SCENARIOS.md: Mr Nguyễn Văn Ánh's signing certificate, the Department of Justice's seal and
# its case-management system's device certificate; signing accounts for Mr Ánh and the clerk Ms Trần Thị
# Bích with their signature image and seal. Expects govsign on PATH and GOVSIGN_HOME set.
#
# The demo's API tokens, PIN and console logins (password and TOTP secret) go to
# $GOVSIGN_HOME/demo-accounts.txt (mode 0600) so that the README's examples work; real holders receive
# their token and TOTP secret once and choose their own password and PIN.
set -euo pipefail
demo="$(cd "$(dirname "$0")/demo" && pwd)"
pin="${GOVSIGN_DEMO_PIN:-246810}"
password="${GOVSIGN_DEMO_PASSWORD:-demo password 2026}"
# Each key is made in the HSM for its holder and comes with a one-time set-up code (second-last line),
# with which the holder, and nobody else, chooses the PIN (docs/SOLE-CONTROL.md). The demo plays the holders.
issue() { govsign ca issue "$@"; }
setup_code() { sed -n 's/^set-up code for the holder.*: //p' <<< "$1"; }
anh_issued="$(issue --profile individual --subject "$demo/official-nguyen-van-anh.json" --key-type rsa2048)"
seal_issued="$(issue --profile organisation --subject "$demo/seal-so-tu-phap-ha-noi.json" --key-type rsa2048)"
device_issued="$(issue --profile device --subject "$demo/device-case-system.json" --key-type ec-p256)"
anh="$(tail -n 1 <<< "$anh_issued")" anh_code="$(setup_code "$anh_issued")"
seal="$(tail -n 1 <<< "$seal_issued")" seal_code="$(setup_code "$seal_issued")"
tail -n 1 <<< "$device_issued"

accounts="$GOVSIGN_HOME/demo-accounts.txt"
umask 077
: > "$accounts"
console_login() {  # console_login USERNAME --admin|--account ID -> a line for the accounts file
  local secret
  secret="$(printf '%s\n' "$password" | govsign console enrol --username "$1" "$2" "$3" | tail -n 1)"
  printf 'console login %s: password "%s", TOTP secret %s (a code: python -c "import pyotp; print(pyotp.TOTP('"'"'%s'"'"').now())")\n' "$1" "$password" "$secret" "$secret"
}
officer="$(govsign admin create --name "Lê Thị Hoa" --role ra_officer)"
officer_id="$(head -n 1 <<< "$officer" | sed -E 's/^administrator ([0-9]+):.*/\1/')"
printf 'ra_officer administrator %s: token %s\n' "$officer_id" "$(tail -n 1 <<< "$officer")" >> "$accounts"
console_login hoa --admin "$officer_id" >> "$accounts"
printf 'device certificate %s: set-up code %s (for the system that will hold its key)\n' \
  "$(tail -n 1 <<< "$device_issued")" "$(setup_code "$device_issued")" >> "$accounts"
for role in official:"$anh":chu-ky-nguyen-van-anh:anh:"$anh_code" clerk:"$seal":con-dau-so-tu-phap-ha-noi:bich:"$seal_code"; do
  IFS=: read -r kind serial image login code <<< "$role"
  created="$(govsign account "create-$kind" --cert "$serial")"
  id="$(head -n 1 <<< "$created" | sed -E 's/^account ([0-9]+):.*/\1/')"
  printf '%s\n%s\n' "$code" "$pin" | govsign account set-pin "$id" >/dev/null
  govsign account set-image "$id" "$demo/$image.png" >/dev/null
  printf '%s account %s (certificate %s): token %s PIN %s\n' "$kind" "$id" "$serial" "$(tail -n 1 <<< "$created")" "$pin" >> "$accounts"
  console_login "$login" --account "$id" >> "$accounts"
done
echo "demo signing accounts: $accounts" >&2
