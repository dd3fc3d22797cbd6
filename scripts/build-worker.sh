#!/usr/bin/env bash
# Builds the worker (release wasm + JS shim) into build/ with worker-build, using the
# wasm-bindgen CLI from crates.io (never a download from GitHub) and no wasm-opt.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_bin="$("$repo_root/scripts/tools.sh")"
cd "$repo_root"
export WASM_BINDGEN_BIN="$tools_bin/wasm-bindgen"
"$tools_bin/worker-build" --release >&2
