#!/usr/bin/env bash
# Installs what building and running edgeback needs, idempotently, from crates.io, the
# npm registry and Debian's packages only (design §12): the wasm32 target, a pinned
# nightly toolchain with rust-src (scripts/worker-toolchain) for the release wasm, worker-build
# 0.8.7, the wasm-bindgen CLI at exactly Cargo.lock's wasm-bindgen version, the npm
# packages (wrangler, playwright-core) and Debian's chromium for the browser test.
# A second run checks versions and returns in about a second.
#
# Tools go to $EDGEBACK_TOOLS_DIR (default ~/.cache/edgeback-tools), outside the work
# tree, so fresh clones on the same machine (CI) reuse them.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${EDGEBACK_TOOLS_DIR:-$HOME/.cache/edgeback-tools}"
worker_build_version="0.8.7"

say() { printf '[tools] %s\n' "$*" >&2; }

wasm_bindgen_version() {
  # The version of the wasm-bindgen crate locked in Cargo.lock.
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
    "$repo_root/Cargo.lock"
}

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown >&2
  fi
}

ensure_worker_toolchain() {
  # The release wasm is built with a pinned nightly that rebuilds the standard library
  # for size (scripts/build-worker.sh; BENCHMARKS.md "Worker size"): rust-src for
  # `-Z build-std`, the wasm32 target for worker-build's own check. Everything else
  # (clippy, the tests) uses the stable toolchain.
  local toolchain
  toolchain="$(tr -d '[:space:]' < "$repo_root/scripts/worker-toolchain")"
  if ! rustup run "$toolchain" rustc --version > /dev/null 2>&1 \
      || ! rustup component list --toolchain "$toolchain" --installed | grep -q '^rust-src' \
      || ! rustup target list --toolchain "$toolchain" --installed | grep -qx wasm32-unknown-unknown; then
    say "installing the $toolchain toolchain (rust-src, wasm32) for the release wasm"
    rustup toolchain install "$toolchain" --profile minimal --component rust-src \
      --target wasm32-unknown-unknown >&2
  fi
}

ensure_cargo_tool() { # crate version binary [--locked]
  local crate="$1" version="$2" binary="$3" locked="${4:-}"
  local installed=""
  if [ -x "$tools_dir/bin/$binary" ]; then
    installed="$("$tools_dir/bin/$binary" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)"
  fi
  if [ "$installed" != "$version" ]; then
    say "installing $crate $version into $tools_dir (a few minutes, once per machine)"
    cargo install "$crate" --version "$version" $locked --root "$tools_dir" --force >&2
  fi
}

ensure_npm_packages() {
  local stamp="$repo_root/node_modules/.edgeback-lock-sha"
  local want
  want="$(sha256sum "$repo_root/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] \
      || [ ! -x "$repo_root/node_modules/.bin/wrangler" ]; then
    say "installing npm packages (wrangler, workerd)"
    (cd "$repo_root" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" > "$stamp"
  fi
}

ensure_chromium() {
  # The dashboard's browser test drives Debian's Chromium with playwright-core (npm's
  # own browser download is not reachable here, and not needed).
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
      say "installing Debian's chromium (browser test of the dashboard)"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
    else
      say "chromium is missing: run 'sudo apt-get install chromium' (needed by the browser test)"
    fi
  fi
}

main() {
  if [ ! -f "$repo_root/Cargo.lock" ]; then
    (cd "$repo_root" && cargo generate-lockfile >&2)
  fi
  local bindgen_version
  bindgen_version="$(wasm_bindgen_version)"
  if [ -z "$bindgen_version" ]; then
    say "cannot find the wasm-bindgen version in Cargo.lock"; exit 1
  fi
  ensure_wasm_target
  ensure_worker_toolchain
  ensure_cargo_tool worker-build "$worker_build_version" worker-build --locked
  # No --locked: one dependency version locked by wasm-bindgen-cli is gone from crates.io.
  ensure_cargo_tool wasm-bindgen-cli "$bindgen_version" wasm-bindgen
  ensure_npm_packages
  ensure_chromium
}

main "$@"
echo "$tools_dir/bin"
