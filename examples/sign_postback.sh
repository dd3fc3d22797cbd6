#!/usr/bin/env bash
# Prints an edgeback postback URL signed with HMAC-SHA256 (docs/signing.md), with openssl.
# usage: EDGEBACK_HMAC_SECRET=... sign_postback.sh BASE_URL CLICK_ID PAYOUT TXID [name=value ...]
# bash, coreutils (sort) and openssl only.
set -euo pipefail
export LC_ALL=C # byte-wise: encoding and sorting work on bytes, not characters

# RFC 3986: A-Z a-z 0-9 - . _ ~ kept, every other byte as %XX upper case.
encode() {
  local text="$1" out="" c i
  for ((i = 0; i < ${#text}; i++)); do
    c="${text:i:1}"
    case "$c" in
      [A-Za-z0-9._~-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  printf '%s' "$out"
}

base="$1" clickid="$2" payout="$3" txid="$4"
shift 4
pairs=("clickid=$clickid" "payout=$payout" "txid=$txid" "$@")
have_ts=no
for pair in "${pairs[@]}"; do
  [[ "$pair" == *=* ]] || { echo "not name=value: $pair" >&2; exit 2; }
  [[ "${pair%%=*}" == ts ]] && have_ts=yes
done
[[ $have_ts == yes ]] || pairs+=("ts=$(date +%s)") # unix seconds, within the tolerance

# Each pair encoded as name=value ('=' and '&' never occur inside an encoded part),
# sorted by name then value: two sort keys split at '=', byte order.
encoded=()
for pair in "${pairs[@]}"; do
  encoded+=("$(encode "${pair%%=*}")=$(encode "${pair#*=}")")
done
canonical="$(printf '%s\n' "${encoded[@]}" | sort -t '=' -k1,1 -k2,2 | paste -sd '&' -)"
sig="$(printf '%s' "$canonical" | openssl dgst -sha256 -hmac "$EDGEBACK_HMAC_SECRET" | sed 's/^.*= //')"
echo "${base}?${canonical}&sig=${sig}"
