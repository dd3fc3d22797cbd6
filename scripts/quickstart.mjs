// Waits for the local worker, makes one demo click, and prints URLs a new user can try.
// Used by `make dev` (scripts/dev.sh). Node's built-in fetch; no other dependency.
import { readFileSync } from "node:fs";

const base = process.argv[2] ?? "http://127.0.0.1:8787";
const deadline = Date.now() + 300_000; // the first build of the worker can take minutes

async function ready() {
  while (Date.now() < deadline) {
    try {
      const reply = await fetch(`${base}/healthz`);
      if (reply.status === 200) return;
      if (reply.status === 500) {
        console.error(`[dev] the configuration is not valid: ${await reply.text()}`);
        process.exit(1);
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  console.error("[dev] the worker did not start within 5 minutes");
  process.exit(1);
}

function adminToken() {
  const line = readFileSync(".dev.vars", "utf8")
    .split("\n")
    .find((l) => l.startsWith("ADMIN_TOKEN="));
  return line ? line.slice("ADMIN_TOKEN=".length).replace(/^"|"$/g, "") : "<ADMIN_TOKEN>";
}

await ready();
const clickUrl = `${base}/c/demo?zoneid=zone42&visitor_id=visitor-1`;
const click = await fetch(clickUrl, {
  redirect: "manual",
  headers: { "user-agent": "Mozilla/5.0 (edgeback quickstart)" },
});
const location = click.headers.get("location") ?? "";
const clickId = new URL(location, base).searchParams.get("aff_sub");
if (click.status !== 302 || !clickId) {
  console.error(`[dev] the demo click did not redirect as expected: ${click.status} ${location}`);
  process.exit(1);
}
const txid = `demo-${Date.now()}`;
console.log(`
edgeback is running at ${base}

  Click URL (redirects to the demo offer with a fresh click ID in aff_sub):
    ${clickUrl}

  A click was just made for you: ${clickId}
  Postback URL (records a conversion for that click; send it twice to see "duplicate"):
    ${base}/postback?clickid=${clickId}&payout=4.20&txid=${txid}&status=approved

  Dashboard (sign in with the admin token ${adminToken()}):
    ${base}/admin

  Conversions (admin API):
    curl -H 'Authorization: Bearer ${adminToken()}' ${base}/api/conversions

  A click from curl counts as a bot (its user agent says so); send a browser-like one:
    curl -i -A 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36' '${clickUrl}'

  Secrets come from .dev.vars and the configuration from wrangler.toml: after changing
  .dev.vars, stop (Ctrl-C) and run \`make dev\` again (wrangler reloads wrangler.toml
  and the code by itself, but not .dev.vars).

Press Ctrl-C to stop.
`);
