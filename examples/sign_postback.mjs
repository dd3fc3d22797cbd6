// Prints an edgeback postback URL signed with HMAC-SHA256 (docs/signing.md).
// usage: EDGEBACK_HMAC_SECRET=... node sign_postback.mjs BASE_URL name=value [name=value ...]
// Node's standard library only.
import { createHmac } from "node:crypto";

export function sign(secret, params, signatureParam = "sig") {
  // Every parameter except the signature, sorted by name, as name=value joined with '&',
  // names and values as they are (not URL-encoded).
  const canonical = Object.keys(params)
    .filter((name) => name !== signatureParam)
    .sort()
    .map((name) => `${name}=${params[name]}`)
    .join("&");
  return createHmac("sha256", secret).update(canonical).digest("hex");
}

const [base, ...pairs] = process.argv.slice(2);
const params = Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]));
params.ts ??= String(Math.floor(Date.now() / 1000)); // unix seconds, within the tolerance
params.sig = sign(process.env.EDGEBACK_HMAC_SECRET, params);
const query = Object.entries(params)
  .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
  .join("&");
console.log(`${base}?${query}`);
