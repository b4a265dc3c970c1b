#!/usr/bin/env bash
# Demo data of SCENARIOS.md: Mr Nguyễn Văn Ánh's signing certificate, the Department of Justice's seal and
# its case-management system's device certificate; signing accounts for Mr Ánh and the clerk Ms Trần Thị
# Bích with their signature image and seal. Expects govsign on PATH and GOVSIGN_HOME set.
#
# The demo's API tokens and PIN go to $GOVSIGN_HOME/demo-accounts.txt (mode 0600) so that the README's
# curl examples work; real holders receive their token once and choose their own PIN.
set -euo pipefail
demo="$(cd "$(dirname "$0")/demo" && pwd)"
pin="${GOVSIGN_DEMO_PIN:-246810}"
anh="$(govsign ca issue --profile individual --subject "$demo/official-nguyen-van-anh.json" --key-type rsa2048 | tail -n 1)"
seal="$(govsign ca issue --profile organisation --subject "$demo/seal-so-tu-phap-ha-noi.json" --key-type rsa2048 | tail -n 1)"
govsign ca issue --profile device --subject "$demo/device-case-system.json" --key-type ec-p256 | tail -n 1

accounts="$GOVSIGN_HOME/demo-accounts.txt"
umask 077
: > "$accounts"
for role in official:"$anh":chu-ky-nguyen-van-anh clerk:"$seal":con-dau-so-tu-phap-ha-noi; do
  IFS=: read -r kind serial image <<< "$role"
  created="$(govsign account "create-$kind" --cert "$serial")"
  id="$(head -n 1 <<< "$created" | sed -E 's/^account ([0-9]+):.*/\1/')"
  printf '%s\n' "$pin" | govsign account set-pin "$id" >/dev/null
  govsign account set-image "$id" "$demo/$image.png" >/dev/null
  printf '%s account %s (certificate %s): token %s PIN %s\n' "$kind" "$id" "$serial" "$(tail -n 1 <<< "$created")" "$pin" >> "$accounts"
done
echo "demo signing accounts: $accounts" >&2
