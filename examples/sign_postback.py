#!/usr/bin/env python3
"""Prints an edgeback postback URL signed with HMAC-SHA256 (docs/signing.md).

usage: EDGEBACK_HMAC_SECRET=... python3 sign_postback.py BASE_URL name=value [name=value ...]
example: python3 sign_postback.py https://track.example/postback/tune clickid=... payout=12.50
Standard library only.
"""
import hashlib
import hmac
import os
import sys
import time
from urllib.parse import quote


def sign(secret: str, params: dict, signature_param: str = "sig") -> str:
    # Every parameter except the signature, sorted by name, as name=value joined with '&',
    # names and values as they are (not URL-encoded).
    canonical = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != signature_param)
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def main() -> None:
    base, pairs = sys.argv[1], sys.argv[2:]
    params = dict(pair.split("=", 1) for pair in pairs)
    params.setdefault("ts", str(int(time.time())))  # unix seconds, within the tolerance
    params["sig"] = sign(os.environ["EDGEBACK_HMAC_SECRET"], params)
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
    print(f"{base}?{query}")


if __name__ == "__main__":
    main()
