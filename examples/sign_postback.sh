#!/usr/bin/env bash
# Prints an edgeback postback URL signed with HMAC-SHA256 (docs/signing.md), with openssl.
# usage: EDGEBACK_HMAC_SECRET=... sign_postback.sh BASE_URL CLICK_ID PAYOUT TXID
# Values here must not need URL-encoding (plain IDs and decimals); for anything else use
# the Python or JavaScript example.
set -euo pipefail
base="$1" clickid="$2" payout="$3" txid="$4"
ts="$(date +%s)"
# Sorted by name: clickid, payout, ts, txid.
canonical="clickid=${clickid}&payout=${payout}&ts=${ts}&txid=${txid}"
sig="$(printf '%s' "$canonical" | openssl dgst -sha256 -hmac "$EDGEBACK_HMAC_SECRET" | sed 's/^.*= //')"
echo "${base}?${canonical}&sig=${sig}"
