#!/usr/bin/env bash
# `make deploy [ENV=name]`: checks, migrates and deploys, in that order, stopping at the
# first failure. Needs a Cloudflare login (`npx wrangler login`) or CLOUDFLARE_API_TOKEN
# (and CLOUDFLARE_ACCOUNT_ID) in the environment; the README's "Deploying" has every step.
#  1. the secrets already set on the worker (`wrangler secret list`), by name;
#  2. `edgeback-cli check-config` on that environment: the configuration, real D1 and KV
#     ids, and every secret it names among those deployed (.dev.vars does not count:
#     it is for local runs only);
#  3. `wrangler d1 migrations apply <binding> --remote` for every D1 binding;
#  4. `wrangler deploy`.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
export WRANGLER_SEND_METRICS=false
env_args=()
if [ -n "${ENV:-}" ]; then env_args=(--env "$ENV"); fi

bash scripts/tools.sh > /dev/null
cli() { cargo run --quiet --bin edgeback-cli -- "$@"; }

echo "[deploy] secrets set on the worker (npx wrangler secret list)" >&2
if ! listed="$(npx wrangler secret list "${env_args[@]}" --format json)"; then
  echo "[deploy] cannot list the worker's secrets: log in with \`npx wrangler login\` (or set" >&2
  echo "         CLOUDFLARE_API_TOKEN), and set each secret with \`npx wrangler secret put NAME\`" >&2
  exit 1
fi
names="$(printf '%s' "$listed" | node -e '
  let text = ""; process.stdin.on("data", (d) => (text += d)).on("end", () => {
    const list = JSON.parse(text || "[]");
    console.log(list.map((s) => s.name).join(","));
  });')"

echo "[deploy] checking wrangler.toml ${ENV:+[env.$ENV]}" >&2
cli check-config wrangler.toml "${env_args[@]}" --no-dev-vars --secrets "$names"

for binding in $(cli d1-bindings wrangler.toml "${env_args[@]}"); do
  echo "[deploy] applying D1 migrations to $binding (remote)" >&2
  npx wrangler d1 migrations apply "$binding" --remote "${env_args[@]}"
done

npx wrangler deploy "${env_args[@]}"
