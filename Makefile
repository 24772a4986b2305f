# tapstack — see README.md. `make test` is the test command; `make demo` shows it working.
CARGO ?= cargo
PREFIX ?= /usr/local
RELEASE := target/release

.PHONY: all build c-tests lint test unit-test fuzz fuzz-brief net-test compare demo bench install deps clean
FUZZ_SECONDS ?= 20
FUZZ_BRIEF_SECONDS ?= 3

all: build

build:
	$(CARGO) build --release --workspace
	$(MAKE) -C c-tests

c-tests:
	$(MAKE) -C c-tests

# Installs the Debian packages the tests, the demo and the benchmarks use (idempotent).
deps:
	scripts/install-deps.sh

# Format and lint gate (CI runs it before `make test`); docs-check: every path and command the
# README and docs/ name exists.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	tests/docs-check.sh

# THE test command: unit tests (no root), then network tests in private namespaces.
test: deps build unit-test fuzz-brief net-test compare

unit-test:
	$(CARGO) test --release --workspace

# Every parser's fuzz target for FUZZ_SECONDS each (fuzz/; findings go to fuzz/regressions/).
fuzz:
	$(CARGO) run --release -p tapstack-fuzz -- --seconds $(FUZZ_SECONDS)

# The same, a few seconds per target (part of `make test`).
fuzz-brief:
	$(CARGO) run --release -p tapstack-fuzz -- --seconds $(FUZZ_BRIEF_SECONDS)

net-test:
	tests/net/run-all.sh

compare:
	c-tests/compare.sh

demo: deps build
	scripts/demo.sh

# BENCH_ARGS: e.g. --quick, --runs 3, --slow-runs 3, --loaded (bench/run.sh --help).
bench: deps build
	$(CARGO) build --release -p tapstack --example smolpeer
	bench/run.sh $(BENCH_ARGS)

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib
	install -m 0755 $(RELEASE)/libtapstack_preload.so $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(RELEASE)/tapstack-host $(RELEASE)/tapstack-plot $(RELEASE)/tapstack-query $(DESTDIR)$(PREFIX)/bin/
	sed 's|^TAPSTACK_LIB_DEFAULT=.*|TAPSTACK_LIB_DEFAULT=$(PREFIX)/lib/libtapstack_preload.so|' scripts/tapstack > $(DESTDIR)$(PREFIX)/bin/tapstack
	chmod 0755 $(DESTDIR)$(PREFIX)/bin/tapstack

clean:
	$(CARGO) clean
	$(MAKE) -C c-tests clean
