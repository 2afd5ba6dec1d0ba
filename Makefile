# The two commands that matter: `make run` and `make test`. Both run the
# idempotent set-up first, so they work from a fresh clone.
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_FORCE_COLOR ?= 0

.PHONY: help setup run test lint unit integration bench-smoke molecule bench tarball image clean

help:
	@echo "make run    set-up if needed, then ansible-playbook site.yml (local 3x3 cluster)"
	@echo "make test   set-up if needed, then every test: lint, unit, integration, bench-smoke, molecule"
	@echo "make setup  packages, Docker engine, .venv, collections, images (idempotent)"
	@echo "make lint | unit | integration | bench-smoke | molecule | bench | tarball"
	@echo "make image FAUNADB_RELEASE=faunadb-VERSION.tar.gz [FAUNADB_IMAGE=name:tag]   FaunaDB image from a release tarball"

setup:
	@scripts/setup.sh

run: setup
	$(BIN)/ansible-playbook site.yml

test: setup lint unit integration bench-smoke molecule

lint:
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check .
	$(BIN)/ansible-lint --offline -q

unit:
	$(BIN)/pytest tests/unit

integration:
	$(BIN)/pytest tests/integration

# The write benchmark in its few-second mode, on the default 3x3 cluster: provisioned
# (admin calls' emulated JVM start turned down, as the test inventories do) and
# removed again when none was running; fails only if nothing could be measured.
BENCH_SMOKE_VARS := {"faunadb_node_env": {"FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS": "0.3"}}
bench-smoke:
	$(BIN)/python bench/double_load.py --smoke --teardown -e '$(BENCH_SMOKE_VARS)'

molecule:
	@for scenario in $$(ls molecule); do $(BIN)/molecule test -s $$scenario || exit 1; done

bench:
	$(BIN)/python bench/double_load.py
	$(BIN)/python bench/double_budget.py
	$(BIN)/python bench/site_runtime.py

tarball:
	$(BIN)/python tests/faunadb_double/package.py

# FaunaDB image from a release tarball the operator provides (images/faunadb).
image:
	@FAUNADB_VERSION="$(FAUNADB_VERSION)" EXTRA_PACKAGES="$(EXTRA_PACKAGES)" \
	  scripts/build-faunadb-image.sh "$(FAUNADB_RELEASE)" "$(FAUNADB_IMAGE)"

clean:
	rm -rf build .pytest_cache .ruff_cache
