// Prints an edgeback postback URL signed with HMAC-SHA256 (docs/signing.md).
// usage: EDGEBACK_HMAC_SECRET=... node sign_postback.mjs BASE_URL name=value [name=value ...]
// Node's standard library only.
import { createHmac } from "node:crypto";

// RFC 3986: A-Z a-z 0-9 - . _ ~ kept, every other UTF-8 byte as %XX upper case.
// encodeURIComponent also keeps ! ' ( ) *, so those are encoded by hand.
export function encode(text) {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

// Every parameter except the signature, name and value percent-encoded, sorted by
// encoded name then encoded value (plain code-unit order: they are ASCII), joined as
// name=value with '&'. `pairs` is a list of [name, value]; a name may repeat.
export function canonical(pairs, signatureParam = "sig") {
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return pairs
    .filter(([name]) => name !== signatureParam)
    .map(([name, value]) => [encode(name), encode(value)])
    .sort((a, b) => cmp(a[0], b[0]) || cmp(a[1], b[1]))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

export function sign(secret, pairs, signatureParam = "sig") {
  return createHmac("sha256", secret).update(canonical(pairs, signatureParam)).digest("hex");
}

const [base, ...args] = process.argv.slice(2);
const pairs = args.map((arg) => [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]);
if (!pairs.some(([name]) => name === "ts")) {
  pairs.push(["ts", String(Math.floor(Date.now() / 1000))]); // unix seconds, within the tolerance
}
pairs.push(["sig", sign(process.env.EDGEBACK_HMAC_SECRET, pairs)]);
console.log(`${base}?${pairs.map(([name, value]) => `${encode(name)}=${encode(value)}`).join("&")}`);
