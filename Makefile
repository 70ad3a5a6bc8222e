# wasmcron's entry points. `make run` and `make test` each install what they need.
SHELL := /bin/bash
CARGO ?= cargo
PLUGINS_DIR := target/plugins
GUEST_TARGET := wasm32-wasip2
GUEST_OUT := target/guests/$(GUEST_TARGET)/release
# A guest's whole initial linear memory is reset after every run, and Rust links a 1 MiB
# stack into it by default: a 128 KiB stack makes a small job's memory 3 pages instead of
# 17, and a busy host's fire path ~2x cheaper (docs/BENCHMARKS.md, fire lateness).
export CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS := -C link-arg=-zstack-size=131072
export CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS := -C link-arg=-zstack-size=131072
# Plain WASI commands (core modules with `_start`) build for preview 1.
COMMAND_TARGET := wasm32-wasip1
COMMAND_OUT := target/guests/$(COMMAND_TARGET)/release
COMMANDS := text_command:wasmcron.examples.text_command
# crate directory under example-jobs/  =>  plugin name (the part of job_class_string before the class)
PLUGINS := sample_job:simple_scheduler.jobs.sample_job stats:wasmcron.examples.stats testing:wasmcron.testing http_jobs:wasmcron.examples.http
# Plugins the tests upload on purpose to be refused: kept out of target/plugins, which
# `make run` installs.
TEST_PLUGINS_DIR := target/test-plugins
TEST_PLUGINS := broken_describe:wasmcron.testing.broken_describe huge_describe:wasmcron.testing.huge_describe

# Examples in other languages, each built against wit/job.wit by its own toolchain:
# example-jobs/<dir>/build.sh (the contract is in example-jobs/lib.sh).
LANGUAGE_EXAMPLES := c_job zig_job go_job python_job js_job
# Kept apart from target/plugins: `make run` and every test server install that folder at
# start, and the Python, JavaScript and Go components take seconds each to compile.
LANGUAGE_PLUGINS_DIR := target/language-plugins

.PHONY: help run test test-postgres plugins c-examples languages toolchains guest-tools bench fmt lint wasm-target

## run: build the example plugins and start the server on 127.0.0.1:8888 with them
run: plugins
	$(CARGO) run -p wasmcron -- serve --plugin-dir $(PLUGINS_DIR)

# The black-box suites that run a second time with the servers on PostgreSQL (the
# others test the runtime in-process, the CLI's client side, the cron grammar, the
# scaffold, the docs and the OpenAPI contract: nothing of them depends on the backend).
POSTGRES_SUITES := api options scheduling plugins languages capabilities abandoned hardening events operating
# The suites of several hosts on one database: always on PostgreSQL, so they run here
# (after ensure.sh) and not with the SQLite pass.
MULTI_HOST_SUITES := sync cluster

## test: install the guest toolchains, build the plugins, then run every test (unit, black-box) on SQLite, and the black-box suites again on PostgreSQL
test: toolchains plugins
	$(CARGO) test --workspace
	@$(MAKE) --no-print-directory test-postgres

# One after the other rather than both at once: the suites measure fires against the
# clock, and two suites sharing 2 cores make the slowest fires late. Together they fit
# CI's budget.
## test-postgres: the black-box suites with each test server on a fresh PostgreSQL database (starts one if none answers: tests/postgres/ensure.sh)
test-postgres:
	tests/postgres/ensure.sh
	WASMCRON_TEST_BACKEND=postgres $(CARGO) test -p wasmcron --no-fail-fast $(addprefix --test ,$(POSTGRES_SUITES))
	$(CARGO) test -p wasmcron --no-fail-fast $(addprefix --test ,$(MULTI_HOST_SUITES))

## plugins: build every example plugin into target/plugins/<plugin name>.wasm
plugins: wasm-target
	$(CARGO) build --manifest-path example-jobs/Cargo.toml --release --target $(GUEST_TARGET) --target-dir target/guests --workspace --exclude text_command
	$(CARGO) build --manifest-path example-jobs/Cargo.toml --release --target $(COMMAND_TARGET) --target-dir target/guests -p text_command
	@mkdir -p $(PLUGINS_DIR)
	@for entry in $(PLUGINS); do \
		crate=$${entry%%:*}; name=$${entry#*:}; \
		cp $(GUEST_OUT)/$$crate.wasm $(PLUGINS_DIR)/$$name.wasm; \
		echo "plugin $(PLUGINS_DIR)/$$name.wasm"; \
	done
	@for entry in $(COMMANDS); do \
		crate=$${entry%%:*}; name=$${entry#*:}; \
		cp $(COMMAND_OUT)/$$crate.wasm $(PLUGINS_DIR)/$$name.wasm; \
		echo "plugin $(PLUGINS_DIR)/$$name.wasm (WASI command)"; \
	done
	@$(MAKE) --no-print-directory c-examples languages
	@mkdir -p $(TEST_PLUGINS_DIR)
	@for entry in $(TEST_PLUGINS); do \
		crate=$${entry%%:*}; name=$${entry#*:}; \
		cp $(GUEST_OUT)/$$crate.wasm $(TEST_PLUGINS_DIR)/$$name.wasm; \
	done

## c-examples: the C example (a plain WASI command), when clang can target wasm32-wasi
c-examples:
	@if printf 'int main(void){return 0;}' | clang --target=wasm32-wasi -x c -o /dev/null - >/dev/null 2>&1; then \
		mkdir -p target/guests/c $(PLUGINS_DIR) && \
		clang --target=wasm32-wasi -O2 -s -Wall -Wextra -Werror -o target/guests/c/c_fib.core.wasm example-jobs/c_fib/main.c && \
		$(CARGO) run -q -p wasmcron -- manifest target/guests/c/c_fib.core.wasm example-jobs/c_fib/manifest.json \
			-o $(PLUGINS_DIR)/wasmcron.examples.c_fib.wasm; \
	else \
		echo "skipped the C example: no clang for wasm32-wasi (Debian: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)"; \
	fi

## languages: the examples in C, Zig, Go, Python and JavaScript whose toolchains are here
languages:
	@mkdir -p $(LANGUAGE_PLUGINS_DIR)
	@for dir in $(LANGUAGE_EXAMPLES); do example-jobs/$$dir/build.sh build $(LANGUAGE_PLUGINS_DIR) || exit 1; done

# APScheduler, which tests/cron_compat.rs compares the cron fields with, goes into the
# shared venv, pinned with its dependencies; tzdata is the IANA release chrono-tz carries.
# So do schemathesis and openapi-spec-validator for tests/contract.rs (pinned in
# tests/contract/requirements.txt), and Playwright for the console's browser tests
# (tests/console.rs, pinned in tests/console/requirements.txt; it drives Debian's chromium
# and firefox-esr, which .ci/run installs, never a browser of its own).
## toolchains: install every guest language's toolchain that is missing, and the Python tools of tests/cron_compat.rs, tests/contract.rs and tests/console.rs (under target/toolchains)
toolchains:
	@for dir in $(LANGUAGE_EXAMPLES); do example-jobs/$$dir/build.sh install || exit 1; done
	@venv=target/toolchains/venv; \
	$$venv/bin/python -c 'import sys, apscheduler, tzdata; sys.exit(apscheduler.__version__ != "3.10.4" or tzdata.IANA_VERSION != "2025b")' 2>/dev/null || { \
		[ -x $$venv/bin/python ] || { mkdir -p target/toolchains && python3 -m venv $$venv; } && \
		$$venv/bin/python -m pip install --quiet --disable-pip-version-check \
			APScheduler==3.10.4 tzdata==2025.2 pytz==2026.6 tzlocal==5.4.5 six==1.17.0; }
	@venv=target/toolchains/venv; \
	$$venv/bin/python -c 'import sys, importlib.metadata as m; sys.exit(m.version("schemathesis") != "4.32.5" or m.version("openapi-spec-validator") != "0.9.0")' 2>/dev/null || \
		$$venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/contract/requirements.txt
	@venv=target/toolchains/venv; \
	$$venv/bin/python -c 'import sys, importlib.metadata as m; sys.exit(m.version("playwright") != "1.62.0")' 2>/dev/null || \
		$$venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/console/requirements.txt

## guest-tools: the native helper that makes WIT bindings for C and Go and wraps core modules
guest-tools:
	$(CARGO) build --release --manifest-path example-jobs/guest-tools/Cargo.toml --target-dir target/guest-tools

wasm-target:
	@rustup target list --installed | grep -qx $(GUEST_TARGET) || rustup target add $(GUEST_TARGET)
	@rustup target list --installed | grep -qx $(COMMAND_TARGET) || rustup target add $(COMMAND_TARGET)

## bench: measure the runtime (per-run cost, cached load vs compile, per language) and the server under load
bench: toolchains plugins
	$(CARGO) bench -p wasmcron --bench runtime
	$(CARGO) bench -p wasmcron --bench languages
	$(CARGO) bench -p wasmcron --bench local_loop
	$(CARGO) bench -p wasmcron --bench server
	$(CARGO) bench -p wasmcron --bench scale
	$(CARGO) bench -p wasmcron --bench lateness
	tests/postgres/ensure.sh
	$(CARGO) bench -p wasmcron --bench cluster
	$(CARGO) bench -p wasmcron --bench claim

## fmt: format the host, the plugins and guest-tools with rustfmt
fmt:
	$(CARGO) fmt --all
	$(CARGO) fmt --manifest-path example-jobs/Cargo.toml --all
	$(CARGO) fmt --manifest-path example-jobs/guest-tools/Cargo.toml

## lint: check formatting and run clippy (warnings are errors) on the host, the plugins and guest-tools
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path example-jobs/Cargo.toml --all -- --check
	$(CARGO) fmt --manifest-path example-jobs/guest-tools/Cargo.toml -- --check
	$(CARGO) clippy --manifest-path example-jobs/guest-tools/Cargo.toml --release --target-dir target/guest-tools -- -D warnings
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --manifest-path example-jobs/Cargo.toml --target $(GUEST_TARGET) --target-dir target/guests --workspace --exclude text_command -- -D warnings
	$(CARGO) clippy --manifest-path example-jobs/Cargo.toml --target $(COMMAND_TARGET) --target-dir target/guests -p text_command -- -D warnings

## help: list these targets (`make` alone runs `make run`)
help:
	@grep -E '^## [a-z-]+: ' $(firstword $(MAKEFILE_LIST)) | sed -E 's/^## ([a-z-]+): (.*)/\1\t\2/' | awk -F '\t' '{ printf "  make %-12s %s\n", $$1, $$2 }'
