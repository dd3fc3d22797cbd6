#!/usr/bin/env bash
# Builds the worker (release wasm + JS shim) into build/ with worker-build, using the
# wasm-bindgen CLI from crates.io (never a download from GitHub), then shrinks the wasm
# with wasm-opt from the npm `binaryen` package (package-lock, installed by tools.sh).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_bin="$("$repo_root/scripts/tools.sh")"
cd "$repo_root"
export WASM_BINDGEN_BIN="$tools_bin/wasm-bindgen"

# The release wasm is compiled by a pinned nightly (installed by tools.sh) that rebuilds
# the standard library with the worker's own profile (opt-level z, LTO), its
# size-optimised algorithms, and `-Cpanic=immediate-abort`: a panic traps at once instead
# of formatting a message, so panic strings, locations and the formatting behind them
# leave the wasm (−37 KB gzip; BENCHMARKS.md "Worker size"). What a panic does is
# otherwise unchanged: it already ended in a trap (panic=abort), which worker's shim
# catches to start a fresh instance; only its message is no longer logged, and the code
# has no panics on data (clippy denies unwrap/expect/panic). Native builds, clippy and
# the tests stay on stable.
export RUSTUP_TOOLCHAIN="$(tr -d '[:space:]' < "$repo_root/scripts/worker-toolchain")"
export CARGO_UNSTABLE_BUILD_STD="std,panic_abort"
export CARGO_UNSTABLE_BUILD_STD_FEATURES="optimize_for_size"
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-Zunstable-options -Cpanic=immediate-abort"
"$tools_bin/worker-build" --release >&2

# -Os without its inlining and local-CSE passes: 5 KB gzip smaller than -O1, which was
# 4-5 KB smaller than no wasm-opt. Inlining is what made -O2/-Os/-Oz 20-30 KB larger
# gzipped, and local CSE shrinks the raw code but costs 1 KB gzipped (BENCHMARKS.md);
# gzip is what a deploy and every cold start pay for. So do, by 0.7 KB gzipped (4 KB
# larger raw), the late simplify-locals pass (its tees and sunk locals compress worse
# than the plain sets) and memory packing (the zeros it drops from the data segment
# gzip to almost nothing, the segments it splits them into do not). The features
# are those rustc's wasm32 target and wasm-bindgen emit (the module keeps no
# target_features section for wasm-opt to read them from).
wasm="build/index_bg.wasm"
node_modules/.bin/wasm-opt -Os --skip-pass=inlining-optimizing --skip-pass=local-cse \
  --skip-pass=simplify-locals --skip-pass=memory-packing \
  --enable-exception-handling --enable-bulk-memory --enable-bulk-memory-opt \
  --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
  --enable-reference-types --enable-multivalue \
  "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"

# The dashboard's files are static assets of the deployment (wrangler.toml `[assets]`),
# not part of the wasm (src/runtime/dashboard.rs): its script and style sheet minified by
# esbuild (from the npm packages tools.sh installs; the script as an IIFE, so its
# top-level names shrink too), the page as it is.
assets="build/assets/admin"
mkdir -p "$assets"
node_modules/.bin/esbuild assets/admin/app.js --minify --format=iife --log-level=warning \
  --outfile="$assets/app.js"
node_modules/.bin/esbuild assets/admin/app.css --minify --log-level=warning \
  --outfile="$assets/app.css"
cp assets/admin/index.html "$assets/index.html"
