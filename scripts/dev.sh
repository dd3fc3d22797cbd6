#!/usr/bin/env bash
# `make dev`: runs edgeback locally in workerd (wrangler dev) with a migrated local D1,
# local KV, the demo configuration of wrangler.toml and the demo secrets of
# dev/demo.dev.vars, at http://127.0.0.1:8787 (PORT overrides). Prints a click URL and a
# ready-to-send postback URL, then stays in the foreground until Ctrl-C.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
port="${PORT:-8787}"
persist="${EDGEBACK_PERSIST_DIR:-$repo_root/.wrangler/state}"
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false

bash scripts/tools.sh > /dev/null
if [ ! -f .dev.vars ]; then
  cp dev/demo.dev.vars .dev.vars
  echo "[dev] wrote .dev.vars from dev/demo.dev.vars (demo secrets)" >&2
fi
# Every [[d1_databases]] binding: DB, and any click databases (docs/scale.md).
bindings=$(awk '/^\[\[d1_databases\]\]/ { in_d1 = 1; next } /^\[/ { in_d1 = 0 }
  in_d1 && $1 == "binding" { gsub(/[" ]/, "", $3); print $3 }' wrangler.toml)
for binding in ${bindings:-DB}; do
  echo "[dev] applying D1 migrations to the local database $binding in $persist" >&2
  npx wrangler d1 migrations apply "$binding" --local --persist-to "$persist" >&2
done

# wrangler runs the [build] command (scripts/build-worker.sh) before serving.
setsid npx wrangler dev --test-scheduled --ip 127.0.0.1 --port "$port" --persist-to "$persist" \
  --show-interactive-dev-session=false &
wrangler_pid=$!
stop() { kill -TERM -- "-$wrangler_pid" 2>/dev/null || true; wait "$wrangler_pid" 2>/dev/null || true; }
trap stop EXIT INT TERM

node scripts/quickstart.mjs "http://127.0.0.1:$port"
wait "$wrangler_pid"
