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


def encode(text: str) -> str:
    # RFC 3986: A-Z a-z 0-9 - . _ ~ kept, every other UTF-8 byte as %XX upper case
    # (Python >= 3.7 keeps exactly those with safe="").
    return quote(text, safe="")


def canonical(pairs: list, signature_param: str = "sig") -> str:
    # Every parameter except the signature, name and value percent-encoded, sorted by
    # encoded name then encoded value, joined as name=value with '&'.
    encoded = sorted((encode(k), encode(v)) for k, v in pairs if k != signature_param)
    return "&".join(f"{k}={v}" for k, v in encoded)


def sign(secret: str, pairs: list, signature_param: str = "sig") -> str:
    message = canonical(pairs, signature_param).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def main() -> None:
    base, args = sys.argv[1], sys.argv[2:]
    pairs = [tuple(arg.split("=", 1)) for arg in args]
    if not any(name == "ts" for name, _ in pairs):
        pairs.append(("ts", str(int(time.time()))))  # unix seconds, within the tolerance
    pairs.append(("sig", sign(os.environ["EDGEBACK_HMAC_SECRET"], pairs)))
    query = "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs)
    print(f"{base}?{query}")


if __name__ == "__main__":
    main()
