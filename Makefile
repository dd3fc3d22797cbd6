# edgeback: every command installs what it needs first (scripts/tools.sh, idempotent).
.PHONY: dev test tools check lint check-config deploy build bench fuzz fuzz-smoke soak soak-control

## Run the worker locally at http://127.0.0.1:8787 and print URLs to try.
dev:
	bash scripts/dev.sh

## Run every test: native unit tests of the core and end-to-end tests in workerd.
test: tools
	cargo test --all-targets

## Install the toolchain (wasm target, worker-build, wasm-bindgen CLI, npm packages).
tools:
	@bash scripts/tools.sh > /dev/null

## Build the worker into build/.
build:
	bash scripts/build-worker.sh

## Check wrangler.toml before deploying: every environment's [vars.EDGEBACK], real D1 and
## KV ids (not the placeholders), and every secret the configuration names, by name, in
## .dev.vars or SECRETS="A,B" (offline the deployed ones cannot be seen; make deploy asks
## wrangler for them).
check-config:
	cargo run --quiet --bin edgeback-cli -- check-config wrangler.toml $(if $(SECRETS),--secrets "$(SECRETS)")

## Check, apply the remote D1 migrations, deploy (ENV=name for [env.name]); needs a login.
deploy:
	bash scripts/deploy.sh

## Formatting and lints for the native and the wasm32 targets.
lint: tools
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --target wasm32-unknown-unknown -- -D warnings

## Measure throughput, latency, D1 queries, CPU and size; writes BENCHMARKS.md.
bench: tools
	cargo bench --bench edgeback

## Coverage-guided fuzzing of the core, every target 1,000,000 executions (docs/reliability.md).
## FUZZ_ARGS='--seconds 300' runs each for a time instead; '--merge' updates fuzz/corpus.
fuzz:
	bash scripts/fuzz.sh $(FUZZ_ARGS)

## The fuzz smoke CI runs: every target 5,000 executions from its committed corpus.
fuzz-smoke:
	bash scripts/fuzz.sh --runs 5000

## Ten minutes of mixed traffic on a worker of its own: workerd's memory must stay flat,
## the log hold no error, every figure reconcile (docs/reliability.md). SOAK_SECONDS=120
## for a shorter run.
SOAK_SECONDS ?= 600
soak: tools
	SOAK_SECONDS=$(SOAK_SECONDS) cargo test --test e2e soak::mixed -- --ignored --nocapture

## The soak's baseline: a hello-world JavaScript worker at the same request rate.
soak-control: tools
	SOAK_SECONDS=$(SOAK_SECONDS) cargo test --test e2e soak::control -- --ignored --nocapture
