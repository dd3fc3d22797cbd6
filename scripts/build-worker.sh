#!/usr/bin/env bash
# Builds the worker (release wasm + JS shim) into build/ with worker-build, using the
# wasm-bindgen CLI from crates.io (never a download from GitHub), then shrinks the wasm
# with wasm-opt from the npm `binaryen` package (package-lock, installed by tools.sh).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_bin="$("$repo_root/scripts/tools.sh")"
cd "$repo_root"
export WASM_BINDGEN_BIN="$tools_bin/wasm-bindgen"
"$tools_bin/worker-build" --release >&2

# -O1: measured 4-5 KB smaller gzipped than without; -O2/-Os/-Oz make the code smaller
# raw but 20-30 KB larger gzipped (BENCHMARKS.md), and gzip is what a deploy and every
# cold start pay for. The features are those rustc's wasm32 target and wasm-bindgen emit
# (the module keeps no target_features section for wasm-opt to read them from).
wasm="build/index_bg.wasm"
node_modules/.bin/wasm-opt -O1 \
  --enable-exception-handling --enable-bulk-memory --enable-bulk-memory-opt \
  --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
  --enable-reference-types --enable-multivalue \
  "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
