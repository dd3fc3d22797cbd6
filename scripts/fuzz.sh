#!/usr/bin/env bash
# Coverage-guided fuzzing of the pure core (issue 15 item 5; docs/reliability.md).
#
#   scripts/fuzz.sh [--runs N | --seconds S] [--merge] [--asan] [TARGET ...]
#
# Engine: libFuzzer through cargo-fuzz, on the stable toolchain: `--sanitizer none`
# drops the only nightly-only flag (`-Zsanitizer`); coverage instrumentation
# (`-Cpasses=sancov-module`, `-Cllvm-args=-sanitizer-coverage-*`), debug assertions and
# overflow checks are stable flags. The core has no `unsafe`, so what the fuzzer looks
# for is a panic (which resets a Worker's instance) or a broken invariant (an assert in
# the target). cargo-fuzz is installed once into $EDGEBACK_TOOLS_DIR from crates.io.
# --asan adds AddressSanitizer (for the dependencies' unsafe code): `-Zsanitizer` on the
# stable compiler through RUSTC_BOOTSTRAP=1, built apart in fuzz/target/asan; slower.
#
# Each target runs N executions (default 1,000,000) or S seconds, one after the other,
# under `nice`, starting from its committed corpus fuzz/corpus/TARGET (read only: new
# inputs go to fuzz/target/corpus/TARGET). --merge minimizes both into
# fuzz/corpus/TARGET afterwards. A crash stops with its input in fuzz/artifacts/TARGET.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${EDGEBACK_TOOLS_DIR:-$HOME/.cache/edgeback-tools}"
cargo_fuzz_version="0.13.2"
fuzz_dir="$repo_root/fuzz"
all_targets=(postback_request json_body click_id hmac_auth url_template config_json config_toml admin_query)

say() { printf '[fuzz] %s\n' "$*" >&2; }

runs=1000000
seconds=""
merge=0
sanitizer=none
target_dir="$fuzz_dir/target"
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --merge) merge=1; shift ;;
    --asan) sanitizer=address; target_dir="$fuzz_dir/target/asan"; export RUSTC_BOOTSTRAP=1; shift ;;
    -*) say "unknown option $1"; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

ensure_cargo_fuzz() {
  local installed=""
  if [ -x "$tools_dir/bin/cargo-fuzz" ]; then
    installed="$("$tools_dir/bin/cargo-fuzz" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)"
  fi
  if [ "$installed" != "$cargo_fuzz_version" ]; then
    say "installing cargo-fuzz $cargo_fuzz_version into $tools_dir (a few minutes, once per machine)"
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked --root "$tools_dir" --force >&2
  fi
}

ensure_cargo_fuzz
export PATH="$tools_dir/bin:$PATH"
# One build job: the machine is shared with the other builds and tests.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

cd "$fuzz_dir"
say "building ${#targets[@]} targets (sanitizer: $sanitizer, debug assertions on)"
for target in "${targets[@]}"; do
  # Debug assertions and overflow checks come from fuzz/Cargo.toml's release profile
  # (not `--debug-assertions`, which would also turn on a dependency's own asserts:
  # idna_adapter 1.0, the stub issue 14 pins, asserts what its real version handles).
  cargo fuzz build --sanitizer "$sanitizer" --release \
    --target-dir "$target_dir" "$target" >&2
done
bin_dir="$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release"

if [ -n "$seconds" ]; then
  limit=(-max_total_time="$seconds")
  say "running each target for $seconds s"
else
  limit=(-runs="$runs")
  say "running each target for $runs executions"
fi

summary=()
for target in "${targets[@]}"; do
  committed="$fuzz_dir/corpus/$target"
  work="$fuzz_dir/target/corpus/$target"
  artifacts="$fuzz_dir/artifacts/$target"
  mkdir -p "$committed" "$work" "$artifacts"
  dict=()
  [ -f "$fuzz_dir/dict/$target.dict" ] && dict=(-dict="$fuzz_dir/dict/$target.dict")
  log="$fuzz_dir/target/$target.log"
  started=$SECONDS
  status=0
  nice -n 19 "$bin_dir/$target" "${limit[@]}" "${dict[@]}" -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$committed" > "$log" 2>&1 || status=$?
  executions="$(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -n 1)"
  coverage="$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)"
  if [ "$status" != 0 ]; then
    grep -E "panicked|SUMMARY|Test unit written" "$log" >&2 || tail -n 20 "$log" >&2
    say "$target: CRASH after ${executions:-?} executions (log: $log)"
    exit 1
  fi
  if [ "$merge" = 1 ]; then
    merged="$fuzz_dir/target/merged/$target"
    rm -rf "$merged" && mkdir -p "$merged"
    # -use_counters=0: one input per new edge (not per hit count) keeps the corpus small.
    nice -n 19 "$bin_dir/$target" -merge=1 -use_counters=0 -max_len=4096 \
      "$merged" "$committed" "$work" \
        > "$fuzz_dir/target/$target.merge.log" 2>&1
    # Inputs kept on purpose (regress-*: ones that once failed) survive a merge.
    find "$committed" -type f -name 'regress-*' -exec cp {} "$merged/" \;
    rm -rf "$committed" && mv "$merged" "$committed"
  fi
  files="$(find "$committed" -type f | wc -l)"
  bytes="$(find "$committed" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')"
  line="$(printf '%-17s %12s executions  0 crashes  %5s s  cov %5s  corpus %5s files %8s bytes' \
    "$target" "$executions" "$((SECONDS - started))" "${coverage:-?}" "$files" "$bytes")"
  say "$line"
  summary+=("$line")
done

printf '\nfuzz summary (%s):\n' "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '  %s\n' "${summary[@]}"
