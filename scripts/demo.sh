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
anh="$(govsign ca issue --profile individual --subject "$demo/official-nguyen-van-anh.json" --key-type rsa2048 | tail -n 1)"
seal="$(govsign ca issue --profile organisation --subject "$demo/seal-so-tu-phap-ha-noi.json" --key-type rsa2048 | tail -n 1)"
govsign ca issue --profile device --subject "$demo/device-case-system.json" --key-type ec-p256 | tail -n 1

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
for role in official:"$anh":chu-ky-nguyen-van-anh:anh clerk:"$seal":con-dau-so-tu-phap-ha-noi:bich; do
  IFS=: read -r kind serial image login <<< "$role"
  created="$(govsign account "create-$kind" --cert "$serial")"
  id="$(head -n 1 <<< "$created" | sed -E 's/^account ([0-9]+):.*/\1/')"
  printf '%s\n' "$pin" | govsign account set-pin "$id" >/dev/null
  govsign account set-image "$id" "$demo/$image.png" >/dev/null
  printf '%s account %s (certificate %s): token %s PIN %s\n' "$kind" "$id" "$serial" "$(tail -n 1 <<< "$created")" "$pin" >> "$accounts"
  console_login "$login" --account "$id" >> "$accounts"
done
echo "demo signing accounts: $accounts" >&2
